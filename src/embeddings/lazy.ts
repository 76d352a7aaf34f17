import type { Config } from '../config';
import { createEmbedder } from './index';
import type { Embedder } from './types';

export type EmbedderSource = () => Promise<Embedder>;

/**
 * The configured embedder, created on first use and then shared. A worker starts (and serves ingest) even when the
 * model is missing or the embeddings endpoint is down; the clustering activity that needs it fails with the reason
 * and retries, and a failed creation is attempted again next time.
 */
export function lazyEmbedder(config: Config['embeddings']): EmbedderSource {
  let pending: Promise<Embedder> | undefined;
  return () => {
    pending ??= createEmbedder(config).catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
