import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { adapters, datasets, finetuneJobs, tierEntries } from '../../src/db/schema';
import { activateAdapter } from '../../src/distill/adapters';
import type { GateEvaluation } from '../../src/distill/gate';
import { MAKE_TINY_MODEL_SCRIPT, runTrainerScript } from '../../src/distill/python';
import type { DatasetCard } from '../../src/distill/types';
import { tinyTrainerConfig } from '../../src/distill/tiny';
import { useStackWithWorker } from '../support/stack';
import { waitFor, workerProcess } from '../support/workers';
import { startClustering, startFineTune, startIngest } from '../../src/temporal/starters';

const tenant = 'finetune-it';
const stack = useStackWithWorker(tenant);
const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-ft-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Customer-support log (bitext v1, three intents); labels only choose the data. */
const examples = loadSharedDataset('bitext-v1').filter((e) => ['cancel_order', 'track_order', 'get_refund'].includes(e.label));

/** The GPU worker as its own process, with slow steps so a kill lands mid-training. */
const gpuWorker = (tag: string) => workerProcess(stack(), 'gpu', path.join(work, tag), { DISTILLERY_TRAINER_STEP_DELAY_MS: '150' });

describe('fine-tune workflow on real Temporal with the gpu worker on CPU', () => {
  let clusterRunId: string;
  let baseModel: string;
  const trainer = () => tinyTrainerConfig(baseModel, { maxSteps: 40 });


  it('ingests and clusters a log, and builds a tiny base model from it', async () => {
    const key = 'imports/finetune-it/log.jsonl';
    await stack().blob.put(key, examples.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `ft-${i}` })).join('\n') + '\n');
    await (await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` })).result();
    clusterRunId = (await (await startClustering(stack().client, stack().taskQueue, { tenantId: tenant })).result()).runId;
    const data = path.join(work, 'tokenizer-data.jsonl');
    writeFileSync(data, examples.map((e) => JSON.stringify({ messages: [{ role: 'user', content: e.query }, { role: 'assistant', content: e.answer }] })).join('\n'));
    baseModel = path.join(work, 'base');
    const made = await runTrainerScript(MAKE_TINY_MODEL_SCRIPT, ['--data', data, '--output', baseModel, '--seed', '1']).done;
    expect(made.code, made.stderr).toBe(0);
  });

  it('survives a killed gpu worker: the job resumes from its last checkpoint on another runner and registers an adapter', async () => {
    let runner = gpuWorker('runner-1');
    const handle = await startFineTune(stack().client, stack().taskQueue, {
      tenantId: tenant,
      clusterRunId,
      trainer: trainer(),
      runner: 'local',
      gpuTaskQueue: stack().temporal.gpuTaskQueue,
      heartbeatTimeoutMs: 6000,
      maxNewTokens: 48,
      gate: { minMeanSimilarity: 0, minGainOverBase: 0, minMatchRate: 0, minExamples: 5 },
    });
    const job = await waitFor('the job row', async () => (await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.workflowId, handle.workflowId)))[0]);
    // Kill the runner (SIGKILL: no graceful anything) once a checkpoint is in the blob store.
    await waitFor('a checkpoint', async () => ((await stack().blob.stat(`jobs/${job.id}/checkpoints/LATEST`)) ? true : undefined));
    runner.killGroup('SIGKILL');
    await runner.exited;
    runner = gpuWorker('runner-2');
    try {
      const out = await handle.result();
      expect(out.jobId).toBe(job.id);
      const [row] = await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.id, job.id));
      expect(row!.status).toBe('succeeded');
      const metrics = row!.metrics as { resumedFromStep: number | null; step: number; final_loss: number; first_loss: number };
      expect(metrics.resumedFromStep).toBeGreaterThanOrEqual(10);
      expect(metrics.step).toBe(40);
      expect(metrics.final_loss).toBeLessThan(metrics.first_loss);

      const [ds] = await stack().db.select().from(datasets).where(eq(datasets.id, out.datasetId));
      const card = ds!.card as DatasetCard;
      expect(card.counts.train).toBeGreaterThan(100);
      expect(card.counts.eval).toBeGreaterThan(5);
      expect((await stack().blob.get(ds!.trainKey)).toString('utf8').split('\n')[0]).toMatch(/"messages"/);

      const [adapter] = await stack().db.select().from(adapters).where(eq(adapters.id, out.adapterId));
      const gateSays = JSON.stringify({ reasons: (adapter!.evaluation as GateEvaluation).reasons, student: (adapter!.evaluation as GateEvaluation).student, base: (adapter!.evaluation as GateEvaluation).base });
      expect(adapter, gateSays).toMatchObject({ tenantId: tenant, jobId: job.id, datasetId: out.datasetId, baseModel, status: 'candidate' });
      expect(adapter!.lineage).toMatchObject({ clusterRunId, datasetId: out.datasetId, jobId: job.id });
      expect((await stack().blob.list(`adapters/${job.id}/`)).map((o) => path.basename(o.key)).sort()).toEqual(expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']));
      // The adapter learned something: the student answers closer to the teacher than the base model does.
      const e = adapter!.evaluation as GateEvaluation;
      expect(e.student.examples).toBe(card.counts.eval);
      expect(e.student.meanSimilarity).toBeGreaterThan(e.base.meanSimilarity);

      const activated = await activateAdapter(stack().db, tenant, out.adapterId);
      expect(activated.routes.length).toBeGreaterThan(0);
      const entries = await stack().db.select().from(tierEntries).where(and(eq(tierEntries.tenantId, tenant), eq(tierEntries.tier, 'adapter'), eq(tierEntries.status, 'active')));
      expect(entries.map((x) => x.routeId).sort()).toEqual([...activated.routes].sort());
    } finally {
      await runner.stop();
    }
  });

  it('cancelling the workflow stops the trainer and marks the job cancelled', async () => {
    const runner = gpuWorker('runner-3');
    try {
      const handle = await startFineTune(stack().client, stack().taskQueue, { tenantId: tenant, clusterRunId, trainer: { ...trainer(), maxSteps: 400, seed: 2 }, runner: 'local', gpuTaskQueue: stack().temporal.gpuTaskQueue, heartbeatTimeoutMs: 6000 });
      const job = await waitFor('the job row', async () => (await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.workflowId, handle.workflowId)))[0]);
      await waitFor('a checkpoint', async () => ((await stack().blob.stat(`jobs/${job.id}/checkpoints/LATEST`)) ? true : undefined));
      await handle.cancel();
      await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
      const [row] = await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.id, job.id));
      expect(row!.status).toBe('cancelled');
      expect(await stack().db.select().from(adapters).where(eq(adapters.jobId, job.id))).toEqual([]);
    } finally {
      await runner.stop();
    }
  });
});
