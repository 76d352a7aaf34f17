import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { adapters, finetuneJobs } from '../../src/db/schema';
import { buildTinyModel, tinyTrainerConfig } from '../../src/distill/tiny';
import { startIngest, startRetrain } from '../../src/temporal/starters';
import type { RetrainInput } from '../../src/temporal/contract';
import { useStackWithWorker } from '../support/stack';
import { workerProcess } from '../support/workers';

/**
 * Two manual retrains of one tenant (same workflow id `retrain:<tenant>`), the second after new data: the category
 * the first one's gate rejected is distilled again, and it really trains again — a new job on a new dataset, the
 * trainer run from step 0 — instead of the first run's dataset, result, predictions and verdict coming back.
 */
const tenant = 'retrain-new-data-it';
const stack = useStackWithWorker(tenant);
const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-retrain-nd-'));
let gpu: ReturnType<typeof workerProcess>;
let baseModel: string;

const all = loadSharedDataset('bitext-v1').filter((e) => ['cancel_order', 'track_order', 'get_refund'].includes(e.label));
const firstHalf = all.filter((_, i) => i % 2 === 0);
const secondHalf = all.filter((_, i) => i % 2 === 1);

beforeAll(async () => {
  gpu = workerProcess(stack(), 'gpu', path.join(work, 'gpu'));
  baseModel = await buildTinyModel(all, path.join(work, 'base'), { seed: 1 });
});
afterAll(async () => {
  await gpu?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function ingest(name: string, rows: typeof all, offset: number) {
  const key = `imports/${tenant}/${name}.jsonl`;
  await stack().blob.put(key, rows.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, offset + i), idempotency_key: `nd-${offset + i}` })).join('\n') + '\n');
  return (
    await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
  ).result();
}

const input = (): RetrainInput => ({
  tenantId: tenant,
  lookbackDays: 36_500, // the data's timestamps are fixed (October 2026)
  gpuTaskQueue: stack().temporal.gpuTaskQueue,
  graduation: { remindEveryMs: 3_600_000 },
  // A gate no adapter passes: the category stays unserved, so the next retrain picks it again.
  distill: {
    trainer: tinyTrainerConfig(baseModel, { maxSteps: 12, maxLength: 160 }),
    maxCategories: 1,
    minShare: 0,
    autoActivate: false,
    gate: { minMeanSimilarity: 2, minMatchRate: 2 },
    maxNewTokens: 16,
  },
});

/** The retrain's one distilled category: its adapter, job and dataset. */
async function distilled(r: { adapters: Array<{ adapterId: string; status: string }> }) {
  expect(r.adapters).toHaveLength(1);
  expect(r.adapters[0]!.status).toBe('rejected');
  const [adapter] = await stack().db.select().from(adapters).where(eq(adapters.id, r.adapters[0]!.adapterId));
  const [job] = await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.id, adapter!.jobId));
  return {
    adapter: adapter!,
    job: job!,
    clusterIds: (adapter!.lineage as { clusterIds: string[] }).clusterIds,
    metrics: job!.metrics as { step: number; resumedFromStep: number | null; first_loss: number },
  };
}

describe('a second manual retrain on new data', () => {
  it('trains a new adapter: new job, new dataset, the trainer run anew — not the first run’s result', async () => {
    await ingest('first', firstHalf, 0);
    const one = await distilled(await (await startRetrain(stack().client, stack().taskQueue, input())).result());
    expect(one.metrics).toMatchObject({ step: 12, resumedFromStep: null });

    // Timestamps a minute apart from 2026-10-01: the second file's stay in October too (inside the snapshot's window).
    await ingest('second', secondHalf, 1_000);
    const handle = await startRetrain(stack().client, stack().taskQueue, input());
    const two = await distilled(await handle.result());
    // The same category (stable cluster ids) ...
    expect(two.clusterIds).toEqual(one.clusterIds);
    // ... trained again, on the new data, as its own job with its own artefacts.
    expect(two.job.id).not.toBe(one.job.id);
    expect(two.adapter.id).not.toBe(one.adapter.id);
    expect(two.job.datasetId).not.toBe(one.job.datasetId);
    expect(two.job.workflowId).not.toBe(one.job.workflowId);
    expect(two.metrics).toMatchObject({ step: 12, resumedFromStep: null });
    expect(two.metrics.first_loss).not.toBe(one.metrics.first_loss); // another training file: another first batch
    expect(two.job.createdAt.getTime()).toBeGreaterThan(one.job.updatedAt.getTime());
    for (const j of [one, two]) expect(await stack().blob.stat(`jobs/${j.job.id}/result.json`), j.job.id).toBeTruthy();
  }, 900_000);
});
