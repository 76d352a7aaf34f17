import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { openBlobStore } from '../blob';
import { loadConfig } from '../config';
import { startFineTune } from '../temporal/starters';
import { buildAndStoreDataset } from '../distill/build';
import { activateAdapter, findJob, getAdapter, getDataset, listAdapters, listDatasets, listJobs } from '../distill/store';
import type { TrainerConfig } from '../distill/types';
import { loadSharedDataset } from '../datasets/shared';
import { MAKE_TINY_MODEL_SCRIPT, runTrainerScript } from '../distill/python';
import { InputError, NotFoundError } from '../errors';
import { buildTinyModel } from '../distill/tiny';
import { listBaseModels } from '../models/registry';
import { RUNNERS, type Runner } from '../vocabulary';
import { CancelledFailure, type WorkflowExecutionDescription, WorkflowFailedError } from '@temporalio/client';
import { resolveRun, runOf, withClient, withDb } from './common';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Trainer settings from flags over an optional JSON file (see src/distill/types.ts TrainerConfig). */
export function trainerConfig(o: Record<string, unknown>): TrainerConfig {
  const file = o.config ? (JSON.parse(readFileSync(String(o.config), 'utf8')) as Partial<TrainerConfig>) : {};
  const baseModel = (o.baseModel as string | undefined) ?? file.baseModel;
  if (!baseModel)
    throw new InputError(
      '--base-model',
      'name the base model: a registered name (`distillery models list`), a local directory (no downloads at run time) or, with --runner openai, the hosted model id',
    );
  // A registered base travels by name and digest (each runner finds its own folder); a folder stays a folder.
  const registered = o.runner === 'openai' ? undefined : listBaseModels().find((e) => e.name === baseModel);
  return {
    baseModel,
    ...(registered ? { baseModelDigest: registered.digest } : {}),
    ...(file.gradientCheckpointing ? { gradientCheckpointing: true } : {}),
    lora: {
      r: (o.r as number) ?? file.lora?.r ?? 16,
      alpha: (o.alpha as number) ?? file.lora?.alpha ?? 32,
      dropout: file.lora?.dropout ?? 0.05,
      targetModules: o.targets ? list(String(o.targets)) : (file.lora?.targetModules ?? ['q_proj', 'k_proj', 'v_proj', 'o_proj']),
    },
    learningRate: (o.lr as number) ?? file.learningRate ?? 2e-4,
    epochs: (o.epochs as number) ?? file.epochs ?? 2,
    ...(((o.maxSteps as number) ?? file.maxSteps) ? { maxSteps: (o.maxSteps as number) ?? file.maxSteps } : {}),
    maxLength: (o.maxLength as number) ?? file.maxLength ?? 512,
    packing: file.packing ?? false,
    batchSize: (o.batchSize as number) ?? file.batchSize ?? 8,
    gradientAccumulation: file.gradientAccumulation ?? 1,
    seed: file.seed ?? 0,
    checkpointEvery: (o.checkpointEvery as number) ?? file.checkpointEvery ?? 50,
    precision: file.precision ?? 'auto',
  };
}

/** The workflow's running activities with their attempt and last heartbeat (the runner's progress), one line each. */
function pendingProgress(d: WorkflowExecutionDescription | undefined): string[] {
  return (d?.raw.pendingActivities ?? []).map((p) => {
    const data = p.heartbeatDetails?.payloads?.[0]?.data;
    return `${p.activityType?.name} attempt ${p.attempt}${data ? ` ${Buffer.from(data).toString('utf8')}` : ''}`;
  });
}

export function registerDistillCommands(program: Command): void {
  const ds = program.command('datasets').description('LoRA training datasets built from accepted interactions');
  ds.command('build')
    .description('build a category’s dataset (accepted only, edits applied, deduplicated, PII scrubbed, capped, stratified split) into the blob store')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--run <id>', 'clustering run (default: the tenant’s latest)')
    .option('--clusters <ids>', 'comma-separated cluster ids (default: every cluster no template serves)', list)
    .option('--seed <s>', 'seed of the split and caps', 'distillery')
    .option('--eval-share <x>', 'share of each cluster held out for eval', Number)
    .option('--max-per-cluster <n>', 'cap per cluster', Number)
    .action(async (o: { tenant: string; run?: string; clusters?: string[]; seed: string; evalShare?: number; maxPerCluster?: number }) =>
      withDb(async (db) => {
        const clusterRunId = await runOf(db, o.tenant, o.run);
        const options = { seed: o.seed, ...(o.evalShare ? { evalShare: o.evalShare } : {}), ...(o.maxPerCluster ? { maxPerCluster: o.maxPerCluster } : {}) };
        const built = await buildAndStoreDataset(db, openBlobStore(loadConfig().blob), { tenantId: o.tenant, clusterRunId, clusterIds: o.clusters, options });
        console.log(`dataset ${built.datasetId}: ${built.counts.train} train / ${built.counts.eval} eval examples (${JSON.stringify(built.counts)})`);
      }),
    );
  ds.command('show <id>')
    .description('a dataset’s card: counts, tokens, filters, PII scrubbed, provenance, files')
    .action(async (id: string) =>
      withDb(async (db) => {
        const row = await getDataset(db, id);
        if (!row) throw new InputError('id', `no dataset "${id}": see \`distillery datasets list --tenant T\``);
        console.log(JSON.stringify(row.card, null, 2));
      }),
    );
  ds.command('list')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withDb(async (db) => {
        for (const r of await listDatasets(db, o.tenant)) {
          const c = r.card;
          console.log(
            `${r.id}  ${c.counts.train} train / ${c.counts.eval} eval  ${r.clusterIds.length} clusters  run ${r.clusterRunId}  ${r.createdAt.toISOString()}`,
          );
        }
      }),
    );

  const jobs = program.command('jobs').description('fine-tune jobs on GPU runners (the fine-tune workflow)');
  jobs
    .command('start')
    .description('dataset → fine-tune on a runner → student vs teacher and base → gate → adapter registered (candidate or rejected)')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--run <id>', 'clustering run (default: the tenant’s latest)')
    .option('--clusters <ids>', 'comma-separated cluster ids (default: every cluster no template serves)', list)
    .addOption(new Option('--runner <kind>', 'where training runs').choices(RUNNERS).default('local'))
    .option('--config <file>', 'trainer config JSON (TrainerConfig); flags override it')
    .option('--base-model <name|path>', 'registered base model name, base model directory (local runner) or hosted model id (openai)')
    .option('--max-steps <n>', 'optimizer steps', Number)
    .option('--epochs <n>', 'epochs', Number)
    .option('--lr <x>', 'learning rate', Number)
    .option('--r <n>', 'LoRA rank', Number)
    .option('--alpha <n>', 'LoRA alpha', Number)
    .option('--targets <modules>', 'comma-separated LoRA target modules')
    .option('--max-length <n>', 'max tokens per example', Number)
    .option('--batch-size <n>', 'batch size', Number)
    .option('--checkpoint-every <n>', 'checkpoint every n steps', Number)
    .option('--no-wait', 'return once started')
    .action(async (o: Record<string, unknown> & { tenant: string; run?: string; clusters?: string[]; runner: Runner; wait: boolean }) => {
      const trainer = trainerConfig(o);
      const clusterRunId = await resolveRun(o.tenant, o.run);
      await withClient(async (client, config) => {
        const handle = await startFineTune(client, config.temporal.taskQueue, {
          tenantId: o.tenant,
          clusterRunId,
          clusterIds: o.clusters,
          trainer,
          runner: o.runner,
          gpuTaskQueue: config.temporal.gpuTaskQueue,
        });
        console.log(`started ${handle.workflowId}`);
        if (!o.wait) return;
        let last = '';
        const timer = setInterval(async () => {
          const line = pendingProgress(await handle.describe().catch(() => undefined))[0] ?? '';
          if (line && line !== last) console.log(`  ${(last = line)}`);
        }, 2000);
        try {
          const r = await handle.result();
          console.log(
            `done: dataset ${r.datasetId}, job ${r.jobId}, adapter ${r.adapterId} ${r.status}${r.reasons.length ? ` (${r.reasons.join('; ')})` : ''}`,
          );
        } catch (err) {
          // A cancel (`jobs cancel`) is an outcome, not a crash: one line, no stack trace.
          if (!(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure)) throw err;
          console.log(`cancelled: ${handle.workflowId} (the trainer has stopped; see \`distillery jobs list --tenant ${o.tenant}\`)`);
          process.exitCode = 1;
        } finally {
          clearInterval(timer);
        }
      });
    });
  jobs
    .command('list')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withDb(async (db) => {
        for (const j of await listJobs(db, o.tenant)) console.log(`${j.id}  ${j.status.padEnd(9)}  ${j.runner}  dataset ${j.datasetId}  ${j.workflowId}`);
      }),
    );
  jobs
    .command('status <job>')
    .description('a job (id or workflow id): status, and the runner’s live progress while it trains')
    .action(async (id: string) => {
      const job = await withDb((db) => findJob(db, id));
      console.log(
        `${job.id}  ${job.status}  runner ${job.runner}  dataset ${job.datasetId}${job.error ? `\nerror: ${job.error}` : ''}${job.metrics ? `\nmetrics: ${JSON.stringify(job.metrics)}` : ''}`,
      );
      if (job.status !== 'running') return;
      const d = await withClient((client) => client.workflow.getHandle(job.workflowId).describe());
      for (const line of pendingProgress(d)) console.log(`  ${line}`);
    });
  jobs
    .command('cancel <job>')
    .description('cancel a running job: the trainer checkpoints and stops, the job is marked cancelled')
    .action(async (id: string) => {
      const job = await withDb((db) => findJob(db, id));
      await withClient((client) => client.workflow.getHandle(job.workflowId).cancel());
      console.log(`cancel requested for ${job.id} (${job.workflowId})`);
    });

  program
    .command('models')
    .description('local base models for the trainer')
    .command('tiny')
    .description('build a tiny random-weight causal LM with a tokenizer trained on a dataset (for trying the pipeline on CPU; no downloads)')
    .requiredOption('--output <dir>', 'where to write the model (save_pretrained layout)')
    .option('--dataset <id>', 'train the tokenizer on this dataset’s train file (default: the shared bitext data)')
    .action(async (o: { output: string; dataset?: string }) => {
      const output = path.resolve(o.output);
      if (!o.dataset) {
        await buildTinyModel(loadSharedDataset('bitext-v2'), output);
      } else {
        // A dataset's train file is already chat JSONL: the tokenizer trains on it as it is.
        const dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-tiny-'));
        try {
          const id = o.dataset;
          const row = await withDb((db) => getDataset(db, id));
          if (!row) throw new NotFoundError('--dataset', `no dataset "${id}"`);
          const data = path.join(dir, 'data.jsonl');
          writeFileSync(data, await openBlobStore(loadConfig().blob).get(row.trainKey));
          const r = await runTrainerScript(MAKE_TINY_MODEL_SCRIPT, ['--data', data, '--output', output]).done;
          if (r.code !== 0) throw new Error(`make_tiny_model.py failed: ${r.stderr.slice(-600)}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      console.log(`tiny model written to ${output}; use it with \`distillery jobs start --base-model ${output} …\``);
    });

  const ad = program.command('adapters').description('trained adapters, their evaluation evidence and lineage');
  ad.command('list')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withDb(async (db) => {
        for (const a of await listAdapters(db, o.tenant)) {
          const e = a.evaluation;
          console.log(
            `${a.id}  ${a.status.padEnd(9)}  ${a.name}  student ${e.student.meanSimilarity.toFixed(3)} vs base ${e.base.meanSimilarity.toFixed(3)}  ${a.uri}`,
          );
        }
      }),
    );
  ad.command('show <id>')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (id: string, o: { tenant: string }) =>
      withDb(async (db) => {
        const a = await getAdapter(db, o.tenant, id);
        const e = a.evaluation;
        console.log(`${a.id}  [${a.status}]  ${a.name}\nbase ${a.baseModel}\nuri ${a.uri}\nlineage ${JSON.stringify(a.lineage)}`);
        console.log(
          `gate: ${e.verdict}${e.reasons.length ? ` (${e.reasons.join('; ')})` : ''}; ${e.classificationLike ? 'classification-like (match rate decides)' : 'free text (similarity decides)'}`,
        );
        for (const [who, f] of [
          ['student', e.student],
          ['base', e.base],
        ] as const)
          console.log(
            `  ${who.padEnd(7)} n=${f.examples} mean cos ${f.meanSimilarity.toFixed(3)} p10 ${f.p10Similarity.toFixed(3)} exact ${f.exactRate.toFixed(3)} normalised ${f.normalisedRate.toFixed(3)}`,
          );
        for (const x of e.examples.slice(0, 3))
          console.log(
            `  worst: cos ${x.similarity.toFixed(2)}\n    student:  ${JSON.stringify(x.prediction.slice(0, 160))}\n    accepted: ${JSON.stringify(x.reference.slice(0, 160))}`,
          );
      }),
    );
  ad.command('activate <id>')
    .description('serve a candidate adapter: adapter tier entries for its clusters (routes a template serves are left alone)')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (id: string, o: { tenant: string }) =>
      withDb(async (db) => {
        const r = await activateAdapter(db, o.tenant, id);
        console.log(`${id} active for ${r.routes.length} routes${r.skipped.length ? `; ${r.skipped.length} left to their templates` : ''}`);
      }),
    );
}
