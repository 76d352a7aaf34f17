import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { adapters, datasets, finetuneJobs, tierEntries } from '../../src/db/schema';
import { activateAdapter } from '../../src/distill/store';
import type { GateEvaluation } from '../../src/distill/gate';
import { buildTinyModel, tinyTrainerConfig } from '../../src/distill/tiny';
import { useStackWithWorker } from '../support/stack';
import { spawnCli } from '../support/cli';
import { waitFor, workerProcess } from '../support/workers';
import { startClustering, startFineTune, startIngest } from '../../src/temporal/starters';

const tenant = 'finetune-it';
const stack = useStackWithWorker(tenant);
const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-ft-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Customer-support log (bitext v1, three intents); labels only choose the data. */
const examples = loadSharedDataset('bitext-v1').filter((e) => ['cancel_order', 'track_order', 'get_refund'].includes(e.label));

/** The pid of the trainer (train_lora.py) training this job, found by its work directory in the command line. */
function trainerPid(jobId: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('train_lora.py')) && cmd.some((a) => a.includes(jobId))) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** Whether a process still runs (a zombie, exited but not yet reaped by its parent, does not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The GPU worker as its own process, with slow steps so a kill lands mid-training. */
const gpuWorker = (tag: string) => workerProcess(stack(), 'gpu', path.join(work, tag), { DISTILLERY_TRAINER_STEP_DELAY_MS: '150' });

describe('fine-tune workflow on real Temporal with the gpu worker on CPU', () => {
  let clusterRunId: string;
  let baseModel: string;
  const trainer = () => tinyTrainerConfig(baseModel, { maxSteps: 40 });

  it('ingests and clusters a log, and builds a tiny base model from it', async () => {
    const key = 'imports/finetune-it/log.jsonl';
    await stack().blob.put(key, examples.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `ft-${i}` })).join('\n') + '\n');
    await (
      await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
    ).result();
    clusterRunId = (await (await startClustering(stack().client, stack().taskQueue, { tenantId: tenant })).result()).runId;
    baseModel = await buildTinyModel(examples, path.join(work, 'base'), { seed: 1 });
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
    const job = await waitFor(
      'the job row',
      async () => (await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.workflowId, handle.workflowId)))[0],
    );
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
      const card = ds!.card;
      expect(card.counts.train).toBeGreaterThan(100);
      expect(card.counts.eval).toBeGreaterThan(5);
      expect((await stack().blob.get(ds!.trainKey)).toString('utf8').split('\n')[0]).toMatch(/"messages"/);

      const [adapter] = await stack().db.select().from(adapters).where(eq(adapters.id, out.adapterId));
      const gateSays = JSON.stringify({ reasons: adapter!.evaluation.reasons, student: adapter!.evaluation.student, base: adapter!.evaluation.base });
      expect(adapter, gateSays).toMatchObject({ tenantId: tenant, jobId: job.id, datasetId: out.datasetId, baseModel, status: 'candidate' });
      expect(adapter!.lineage).toMatchObject({ clusterRunId, datasetId: out.datasetId, jobId: job.id });
      expect((await stack().blob.list(`adapters/${job.id}/`)).map((o) => path.basename(o.key)).sort()).toEqual(
        expect.arrayContaining(['adapter_config.json', 'adapter_model.safetensors']),
      );
      // The adapter learned something: the student answers closer to the teacher than the base model does.
      const e = adapter!.evaluation;
      expect(e.student.examples).toBe(card.counts.eval);
      expect(e.student.meanSimilarity).toBeGreaterThan(e.base.meanSimilarity);

      const activated = await activateAdapter(stack().db, tenant, out.adapterId);
      expect(activated.routes.length).toBeGreaterThan(0);
      const entries = await stack()
        .db.select()
        .from(tierEntries)
        .where(and(eq(tierEntries.tenantId, tenant), eq(tierEntries.tier, 'adapter'), eq(tierEntries.status, 'active')));
      expect(entries.map((x) => x.routeId).sort()).toEqual([...activated.routes].sort());
    } finally {
      await runner.stop();
    }
  });

  it('`jobs cancel` stops the trainer within 10 s, uploads no checkpoint after, marks the job cancelled once it stopped; the attached `jobs start` prints one line', async () => {
    const runner = gpuWorker('runner-3');
    const configFile = path.join(work, 'cancel-config.json');
    writeFileSync(configFile, JSON.stringify({ ...trainer(), maxSteps: 400, seed: 2 }));
    // Started as a user would, attached, with the default heartbeat timeout (2 minutes): the cancel must not wait for it.
    const cli = spawnCli(['jobs', 'start', '--tenant', tenant, '--run', clusterRunId, '--config', configFile], {
      ...stack().env,
      TEMPORAL_GPU_TASK_QUEUE: stack().temporal.gpuTaskQueue,
    });
    try {
      await cli.waitFor(/started (finetune:\S+)/, 120_000);
      const workflowId = /started (finetune:\S+)/.exec(cli.output())![1]!;
      const job = await waitFor('the job row', async () => (await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.workflowId, workflowId)))[0]);
      const checkpointKeys = async () => (await stack().blob.list(`jobs/${job.id}/checkpoints/`)).map((o) => `${o.key}@${o.size}`).sort();
      await waitFor('a checkpoint', async () => ((await stack().blob.stat(`jobs/${job.id}/checkpoints/LATEST`)) ? true : undefined));
      const pid = await waitFor('the trainer process', async () => trainerPid(job.id));

      const cancelledAt = Date.now();
      await stack().client.workflow.getHandle(workflowId).cancel();
      let markedAt: number | undefined;
      const exitedAt = await waitFor(
        'the trainer to exit',
        async () => {
          if (!markedAt && (await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.id, job.id)))[0]!.status === 'cancelled') markedAt = Date.now();
          return alive(pid) ? undefined : Date.now();
        },
        60_000,
      );
      const atExit = await checkpointKeys();
      const latency = (exitedAt - cancelledAt) / 1000;
      console.log(`[finetune] cancel → trainer exit: ${latency.toFixed(1)} s`);
      expect(latency).toBeLessThanOrEqual(10);

      expect(await cli.exited).toBe(1);
      expect(cli.output()).toMatch(/^cancelled: finetune:\S+ \(the trainer has stopped/m);
      expect(cli.output()).not.toMatch(/^\s+at /m); // no stack trace
      const [row] = await stack().db.select().from(finetuneJobs).where(eq(finetuneJobs.id, job.id));
      expect(row!.status).toBe('cancelled');
      markedAt ??= Date.now();
      expect(markedAt).toBeGreaterThanOrEqual(exitedAt - 300); // marked only once the trainer had stopped (300 ms: the poll's resolution)
      expect(await checkpointKeys()).toEqual(atExit); // its exit checkpoint was not uploaded, nor anything after
      expect(await stack().db.select().from(adapters).where(eq(adapters.jobId, job.id))).toEqual([]);
    } finally {
      cli.kill('SIGKILL');
      await runner.stop();
    }
  });
});
