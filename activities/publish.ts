import type { BlobStore } from '../src/blob';
import type { Db } from '../src/db/client';
import type { EmbedderSource } from '../src/embeddings/lazy';
import { type PublishSettings, publishManifest, rollbackManifest } from '../src/manifest/publish';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';

export interface PublishDeps {
  db: Db;
  blob: BlobStore;
  embedder: EmbedderSource;
  /** Signs each manifest (config manifest.hmacKey); unsigned when absent. */
  manifestHmacKey?: string;
  /** The adapter server the replay asks for adapter routes' real answers (ADAPTER_SERVER_URL). */
  adapterServerUrl?: string;
}

/** The publisher's activities: thin adapters over src/manifest/publish.ts (both idempotent). */
export function createPublishActivities({ db, blob, embedder, manifestHmacKey, adapterServerUrl }: PublishDeps) {
  return {
    async publishManifest(input: Omit<PublishSettings, 'hmacKey'>) {
      return failFastOnInput(() =>
        withHeartbeat(async () => {
          const r = await publishManifest(db, blob, await embedder(), { ...input, hmacKey: manifestHmacKey, adapterServerUrl });
          return r.status === 'published'
            ? { status: 'published' as const, version: r.version, reasons: [], replay: r.replay }
            : { status: 'refused' as const, reasons: r.reasons, replay: r.replay };
        }),
      );
    },
    async rollbackManifest(input: { tenantId: string; toVersion: number; actor: string }) {
      return failFastOnInput(() => rollbackManifest(db, blob, input.tenantId, input.toVersion, input.actor));
    },
  };
}
