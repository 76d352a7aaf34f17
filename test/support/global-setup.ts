import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import type {} from './provided';
import { freePort, startSeaweed, startTemporalDevServer, venvBin } from '../../src/dev/processes';
import { WORKFLOWS_PATH } from '../../src/temporal/worker';
import { createTestDatabase } from './postgres';

export interface TestStack {
  temporalAddress: string;
  s3Endpoint: string;
  bucket: string;
  databaseUrl: string;
  workflowBundlePath: string;
  tmpDir: string;
}

/**
 * Starts the real stack once for all integration tests: a Temporal dev server and SeaweedFS S3 from the project
 * venv, a fresh Postgres database (migrated), and the workflow bundle. Everything is torn down afterwards.
 */
export default async function setup(project: TestProject) {
  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'distillery-it-'));
  const started = Date.now();
  const [temporal, seaweed, db, bundle] = await Promise.all([
    freePort().then((port) => startTemporalDevServer({ cliPath: venvBin('temporal'), port, logFile: path.join(tmpDir, 'temporal.log') })),
    freePort().then((s3Port) =>
      startSeaweed({ weedPath: venvBin('weed'), dir: path.join(tmpDir, 'seaweed'), s3Port, logFile: path.join(tmpDir, 'seaweed.log') }),
    ),
    createTestDatabase('it'),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger }),
  ]);
  await db.database.close();
  const bucket = 'distillery-test';
  const s3 = new S3Client({
    endpoint: seaweed.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await retry(() => s3.send(new CreateBucketCommand({ Bucket: bucket })), 30);
  s3.destroy();
  const workflowBundlePath = path.join(tmpDir, 'workflow-bundle.js');
  writeFileSync(workflowBundlePath, bundle.code);
  console.log(`[global-setup] stack ready in ${Date.now() - started} ms: temporal ${temporal.address}, s3 ${seaweed.endpoint}, db ${db.name}`);
  project.provide('stack', { temporalAddress: temporal.address, s3Endpoint: seaweed.endpoint, bucket, databaseUrl: db.url, workflowBundlePath, tmpDir });

  return async () => {
    await Promise.allSettled([temporal.stop(), seaweed.stop(), db.drop()]);
    rmSync(tmpDir, { recursive: true, force: true });
  };
}

/** SeaweedFS accepts connections before its filer is ready to create buckets; retry briefly. */
async function retry<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};
