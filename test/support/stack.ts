import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { type CpuConfig, cpuActivities } from '../../app/root';
import { S3BlobStore } from '../../src/blob';
import { type Config, loadConfig } from '../../src/config';
import { lazyEmbedder } from '../../src/embeddings/lazy';
import { openDatabase } from '../../src/db/client';
import { connectClient } from '../../src/temporal/client';
import { createWorker } from '../../src/temporal/worker';
import { ensureTenant } from '../../src/tenants/store';
import type {} from './provided';

/** Connections to the stack global-setup started; each test file uses its own tenant and task queue. */
export async function connectStack() {
  const stack = inject('stack');
  const blobConfig: Extract<Config['blob'], { kind: 's3' }> = {
    kind: 's3',
    bucket: stack.bucket,
    endpoint: stack.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    prefix: '',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  const temporal: Config['temporal'] = { address: stack.temporalAddress, namespace: 'default', taskQueue, gpuTaskQueue: `${taskQueue}-gpu`, cliPath: '' };
  const database = openDatabase({ kind: 'postgres', url: stack.databaseUrl, poolMax: 10 });
  const blob = new S3BlobStore(blobConfig);
  const client = await connectClient(temporal);
  // Local imports go under a per-tenant folder of the test run (shared data is copied in, never read in place): the
  // deployment allow-list the real config builds, so tests import only from where production would allow.
  const importsRoot = path.join(os.tmpdir(), `distillery-it-imports-${randomBytes(4).toString('hex')}`);
  const env = {
    DATABASE_URL: stack.databaseUrl,
    S3_BUCKET: stack.bucket,
    S3_ENDPOINT: stack.s3Endpoint,
    S3_ACCESS_KEY_ID: 'test',
    S3_SECRET_ACCESS_KEY: 'test',
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    LOG_LEVEL: 'warn',
    INGEST_ALLOWED_ROOTS: path.join(importsRoot, '{tenant}'),
  };
  const allowedSources = loadConfig(env).ingest.allowedSources;
  return {
    stack,
    database,
    db: database.db,
    blob,
    blobConfig,
    temporal,
    taskQueue,
    client,
    /** Env for child processes (the CLI) that should use this stack. */
    env,
    /** Where imports may read (bucket `imports/<tenant>/`, local `importsDir(tenant)`), as config builds it from env. */
    allowedSources,
    /** The tenant's allowed local import folder (created). */
    importsDir(tenant: string): string {
      const dir = path.join(importsRoot, tenant);
      mkdirSync(dir, { recursive: true });
      return dir;
    },
    /** An in-process worker on this file's task queue, with the prebuilt workflow bundle. */
    async startWorker(overrides: Partial<CpuConfig> = {}) {
      const handle = await createWorker({
        temporal,
        taskQueue,
        activities: cpuActivities({ ...loadConfig({}), temporal, blob: blobConfig, ingest: { allowedSources }, ...overrides }, { db: database.db, blob }),
        workflowBundlePath: stack.workflowBundlePath,
      });
      void handle.run();
      return handle;
    },
    async close() {
      rmSync(importsRoot, { recursive: true, force: true });
      await client.close();
      await database.close();
      blob.client.destroy();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof connectStack>>;

/**
 * Registers the usual hooks of a workflow test file: connect to the stack, create the tenant, run an in-process
 * worker on the file's own task queue; and tear it all down after. Returns a getter for the connected stack.
 */
export function useStackWithWorker(tenant: string, config: () => Partial<CpuConfig> | Promise<Partial<CpuConfig>> = () => ({})): () => Stack {
  let s: Stack | undefined;
  let worker: Awaited<ReturnType<Stack['startWorker']>> | undefined;
  beforeAll(async () => {
    s = await connectStack();
    await ensureTenant(s.db, tenant);
    worker = await s.startWorker(await config());
  });
  afterAll(async () => {
    await worker?.shutdown();
    await s?.close();
  });
  return () => s!;
}
