import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startCpuWorker, startGpuWorker } from './root';
import { buildApi } from '../src/api/server';
import { type BlobStore, openBlobStore } from '../src/blob';
import { runnerFactory } from '../src/distill/runners';
import type { Config } from '../src/config';
import { type Database, openDatabase } from '../src/db/client';
import { lazyEmbedder } from '../src/embeddings/lazy';
import { connectClient } from '../src/temporal/client';
import { createWorker, installWorkerRuntime, type WorkerHandle } from '../src/temporal/worker';
import { createApiKey, identityForKey, listApiKeys, revokeApiKey } from '../src/keys/store';
import { ensureTenant } from '../src/tenants/store';
import { freePort, isListening, startTemporalDevServer, type TemporalDevServer } from '../src/dev/processes';

export const DEV_TENANT = 'default';

export interface LocalStack {
  config: Config;
  database: Database;
  blob: BlobStore;
  temporal?: TemporalDevServer;
  api?: FastifyInstance;
  apiUrl?: string;
  apiKey: string;
  stop(): Promise<void>;
}

/**
 * The whole system in one process on the embedded defaults: a Temporal dev server from the venv (unless one already
 * answers at TEMPORAL_ADDRESS), PGlite unless DATABASE_URL is set, the configured blob store, both workers and the
 * api. `temporal: 'ephemeral'` starts an in-memory server on a free port (the demo); 'persistent' keeps history in
 * the data dir on the configured port (dev).
 */
export async function startLocalStack(
  config: Config,
  opts: { temporal: 'ephemeral' | 'persistent'; api: boolean; log?: (line: string) => void },
): Promise<LocalStack> {
  const log = opts.log ?? (() => {});
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch((err) => log(`shutdown: ${(err as Error).message}`));
  };
  try {
    let temporal: TemporalDevServer | undefined;
    let temporalConfig = config.temporal;
    const [host, portText] = config.temporal.address.split(':');
    if (opts.temporal === 'persistent' && (await isListening(Number(portText), host))) {
      log(`temporal: using the server already at ${config.temporal.address}`);
    } else {
      const port = opts.temporal === 'persistent' ? Number(portText) : await freePort();
      const uiPort = opts.temporal === 'persistent' ? port + 1000 : undefined;
      log(`temporal: starting dev server on 127.0.0.1:${port}…`);
      temporal = await startTemporalDevServer({
        cliPath: config.temporal.cliPath,
        port,
        uiPort,
        dbFile: opts.temporal === 'persistent' ? path.join(config.dataDir, 'temporal.db') : undefined,
        logFile: path.join(config.dataDir, 'logs', 'temporal.log'),
      });
      stops.push(() => temporal!.stop());
      temporalConfig = { ...config.temporal, address: temporal.address };
      log(`temporal: ready at ${temporal.address}${uiPort ? ` (UI http://127.0.0.1:${uiPort})` : ''}`);
    }
    const database = openDatabase(config.database);
    stops.push(() => database.close());
    await database.migrate();
    log(`database: ${database.kind === 'pglite' ? `embedded PGlite at ${(config.database as { dir: string }).dir}` : 'Postgres (DATABASE_URL)'}, migrated`);
    const blob = openBlobStore(config.blob);
    log(`blob store: ${blob.uri('')}`);
    await ensureTenant(database.db, DEV_TENANT);
    const apiKey = await devApiKey(config, database);

    installWorkerRuntime(config.logLevel);
    const workers: WorkerHandle[] = [
      await startCpuWorker({ ...config, temporal: temporalConfig }, { db: database.db, blob }),
      await startGpuWorker({ ...config, temporal: temporalConfig }, { blob }),
    ];
    for (const w of workers) {
      void w.run();
      stops.push(() => w.shutdown());
    }
    log(`workers: polling ${temporalConfig.taskQueue} and ${temporalConfig.gpuTaskQueue}`);

    let api: FastifyInstance | undefined;
    let apiUrl: string | undefined;
    if (opts.api) {
      // The api's own client (review decisions are Temporal Updates); closed after the api stops.
      const client = await connectClient(temporalConfig);
      stops.push(() => client.close());
      // /readyz also probes the blob store here, since this process serves the workers that need it.
      api = await buildApi({
        db: database.db,
        api: config.api,
        logLevel: config.logLevel,
        temporal: { client, taskQueue: temporalConfig.taskQueue },
        readiness: { blob: () => blob.stat('readyz-probe') },
      });
      apiUrl = await api.listen({ host: config.api.host, port: config.api.port });
      stops.push(() => api!.close());
      log(`api: listening on ${apiUrl} (tenant "${DEV_TENANT}", key in ${path.join(config.dataDir, 'dev-api-key')}; review page ${apiUrl}/review)`);
    }
    return { config: { ...config, temporal: temporalConfig }, database, blob, temporal, api, apiUrl, apiKey, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The dev tenant's API key (scopes ingest and review), created once and kept in the data dir so scripts and curl can read it. */
async function devApiKey(config: Config, database: Database): Promise<string> {
  const file = path.join(config.dataDir, 'dev-api-key');
  const saved = (() => {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      return undefined;
    }
  })();
  // The file outlives a database switch (DATABASE_URL set or unset): re-issue when the saved key is unknown here.
  if (saved && (await identityForKey(database.db, saved))?.tenantId === DEV_TENANT) return saved;
  // The demo and the review page use it for both logging traffic and reviewing (not admin). Named "dev", the reviewer
  // its decisions record; a live "dev" key the file no longer names (the file was removed) is replaced.
  for (const k of await listApiKeys(database.db, DEV_TENANT)) {
    if (k.name === 'dev' && !k.revokedAt) await revokeApiKey(database.db, DEV_TENANT, String(k.id));
  }
  const key = await createApiKey(database.db, DEV_TENANT, { name: 'dev', scopes: ['ingest', 'review'] });
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}
