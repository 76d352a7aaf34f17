import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { startIngest } from '../../src/temporal/starters';
import { ensureTenant } from '../../src/tenants/store';
import path from 'node:path';
import { workerProcess } from '../support/workers';
import { connectStack } from '../support/stack';

let s: Awaited<ReturnType<typeof connectStack>>;
const tenant = 'crash-it';

beforeAll(async () => {
  s = await connectStack();
  await ensureTenant(s.db, tenant);
});
afterAll(async () => s?.close());

async function scalar(q: ReturnType<typeof sql>): Promise<number> {
  return Number(Object.values(rowsOf<Record<string, string>>(await s.db.execute(q))[0]!)[0]);
}

it('a worker killed mid-import (SIGKILL) and restarted completes the import with every row exactly once', async () => {
  const examples = [...loadSharedDataset('banking77'), ...loadSharedDataset('hwu64')].slice(0, 15_000);
  const body = examples.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `crash-${i}` })).join('\n') + '\n';
  await s.blob.put('imports/crash-it/log.jsonl', body);

  // Its own process group: killing it kills the worker itself, not just the tsx launcher in front of it.
  const first = workerProcess(s, 'cpu', path.join(s.stack.tmpDir, 'crash-worker-1'));
  await first.waitFor(/worker polling/);
  // ~240 chunks of 24 KiB (30 spans): enough checkpoints to kill in the middle, and several continueAsNew runs.
  const handle = await startIngest(
    s.client,
    s.taskQueue,
    { tenantId: tenant, source: `s3://${s.stack.bucket}/imports/crash-it/log.jsonl`, chunkBytes: 24 * 1024, spansPerRun: 5 },
    s.allowedSources,
  );

  const deadline = Date.now() + 120_000;
  let committed = 0;
  while (committed < 30 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    committed = await scalar(sql`select count(*) from ingest_chunks where run_id like ${`${handle.workflowId}@%`}`);
  }
  expect(committed).toBeGreaterThanOrEqual(30);
  first.killGroup('SIGKILL');
  await first.exited;
  const storedAtKill = await scalar(sql`select count(*) from interactions where tenant_id = ${tenant}`);
  expect(storedAtKill).toBeLessThan(examples.length); // really killed mid-import

  const second = workerProcess(s, 'cpu', path.join(s.stack.tmpDir, 'crash-worker-2'));
  try {
    const result = await handle.result();
    expect(result).toMatchObject({ files: 1, lines: examples.length, stored: examples.length, duplicates: 0, rejected: 0 });
    expect(await scalar(sql`select count(*) from interactions where tenant_id = ${tenant}`)).toBe(examples.length);
    expect(await scalar(sql`select count(distinct idempotency_key) from interactions where tenant_id = ${tenant}`)).toBe(examples.length);
    expect(await scalar(sql`select count(*) from feedback where tenant_id = ${tenant}`)).toBe(examples.length);
    // The workflow continued as new at least once, and the run record survived it.
    const runs = rowsOf<{ status: string; stats: { stored: number } }>(await s.db.execute(sql`select status, stats from runs where id = ${result.runId}`));
    expect(runs[0]).toMatchObject({ status: 'completed', stats: { stored: examples.length } });
    const desc = await handle.describe();
    expect(desc.runId).not.toBe(handle.firstExecutionRunId);
  } finally {
    await second.stop();
  }
});
