import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { BlobStore } from '../src/blob';
import { folderDigest } from '../src/adapters/digest';
import { CheckpointStore, adapterPrefix, downloadDir, uploadDir } from '../src/distill/blob-dirs';
import { checkpointFingerprint } from '../src/distill/fingerprint';
import { UPLOADED_MARKER } from '../src/distill/runners/local';
import type { TrainingRunner } from '../src/distill/runners/types';
import type { TrainerConfig } from '../src/distill/types';
import type { Runner } from '../src/vocabulary';
import { withHeartbeat } from './heartbeat';

const run = promisify(execFile);

/**
 * How often GPU activities heartbeat, and the GPU worker's heartbeat throttle (its maxHeartbeatThrottleInterval):
 * a cancel request comes back in a heartbeat's reply, and the SDK's default throttle (60 s, or 0.8 × the heartbeat
 * timeout) let a cancelled trainer run on for a minute. One second keeps `jobs cancel` within seconds.
 */
export const GPU_HEARTBEAT_MS = 1_000;
export const GPU_HEARTBEAT_THROTTLE = '1 second';

export interface GpuDeps {
  blob: BlobStore;
  /** The runner for a kind ('local' trainer, 'openai' hosted API). */
  runner: (kind: Runner) => TrainingRunner;
  /** Where jobs keep their files on this machine. */
  workRoot: string;
}

export interface TrainAdapterInput {
  jobId: string;
  trainKey: string;
  config: TrainerConfig;
  runner: Runner;
}

export interface TrainAdapterOutput {
  /** Blob prefix of the PEFT adapter directory (local runner). */
  adapterPrefix?: string;
  /** Its folder digest (src/adapters/digest.ts), also in metrics.adapterDigest: what servers fetch and verify it by. */
  adapterDigest?: string;
  /** Model name the hosted API serves (hosted runner). */
  hostedModel?: string;
  metrics: Record<string, unknown>;
}

export interface PredictInput {
  jobId: string;
  evalKey: string;
  baseModel: string;
  adapterPrefix?: string;
  hostedModel?: string;
  which: 'student' | 'base';
  maxNewTokens: number;
  runner: Runner;
}

/**
 * Activities of the `distillery-gpu` queue: training and student inference. Several runners share the queue; a job
 * keeps its checkpoints in the blob store, so whichever runner retries it resumes from the latest one.
 */
export function createGpuActivities(deps?: GpuDeps) {
  const need = () => {
    if (!deps) throw new Error('this gpu worker was started without a blob store; start it with `distillery worker --queue gpu`');
    return deps;
  };
  const cancelled = (err: unknown) => (Context.current().cancellationSignal.aborted ? new CancelledFailure(`cancelled: ${(err as Error).message}`) : err);

  return {
    async describeRunner(): Promise<{ hostname: string; cpus: number; memoryGiB: number; gpus: string[] }> {
      let gpus: string[] = [];
      try {
        const { stdout } = await run('nvidia-smi', ['-L'], { timeout: 10_000 });
        gpus = stdout.split('\n').filter((l) => l.startsWith('GPU '));
      } catch {
        gpus = []; // no NVIDIA driver: a CPU runner
      }
      return { hostname: os.hostname(), cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), gpus };
    },

    /**
     * Trains an adapter: downloads the dataset, restores the job's latest checkpoint, runs the trainer (heartbeating
     * its progress, uploading each checkpoint), uploads the adapter. Idempotent: a finished job returns its result.
     */
    async trainAdapter(input: TrainAdapterInput): Promise<TrainAdapterOutput> {
      const { blob, runner, workRoot } = need();
      const ctx = Context.current();
      const resultKey = `jobs/${input.jobId}/result.json`;
      if (await blob.stat(resultKey)) return JSON.parse((await blob.get(resultKey)).toString('utf8')) as TrainAdapterOutput;
      const work = path.join(workRoot, input.jobId);
      await mkdir(work, { recursive: true });
      const trainFile = path.join(work, 'train.jsonl');
      const trainBytes = await blob.get(input.trainKey);
      await writeFile(trainFile, trainBytes);
      let refused = false;
      const checkpoints = new CheckpointStore(blob, `jobs/${input.jobId}/checkpoints`, {
        fingerprint: checkpointFingerprint(trainBytes, input.config),
        onRefused: (reason) => {
          refused = true;
          ctx.log.warn(reason);
        },
      });
      const localCheckpoints = path.join(work, 'output', 'checkpoints');
      const restored = input.runner === 'local' ? await checkpoints.restore(localCheckpoints) : undefined;
      // A refused checkpoint may also sit in this machine's work dir from an earlier attempt: start really fresh
      // (the trainer would refuse it too, and the job would fail on every retry).
      if (refused) await rm(localCheckpoints, { recursive: true, force: true });
      // A restored checkpoint is already in the blob store: the trainer may prune it like an uploaded one.
      if (restored !== undefined) await writeFile(path.join(localCheckpoints, `step-${restored}`, UPLOADED_MARKER), '');
      const prior = (ctx.info.heartbeatDetails ?? {}) as { hostedJobId?: string };
      const progress: Record<string, unknown> = { phase: 'training', resumedFrom: restored ?? null, hostedJobId: prior.hostedJobId };
      try {
        const outcome = await withHeartbeat(
          () =>
            runner(input.runner).train(
              { jobId: input.jobId, trainFile, config: input.config, workDir: work, resume: restored !== undefined, hostedJobId: prior.hostedJobId },
              {
                signal: ctx.cancellationSignal,
                onEvent: async (e) => {
                  if (e.event === 'progress') Object.assign(progress, { step: e.step, totalSteps: e.total_steps, loss: e.loss, tokensPerS: e.tokens_per_s });
                  else if (e.event === 'checkpoint') {
                    // The checkpoint a cancelled trainer writes on its way out is not uploaded: a cancelled job stops
                    // writing to the blob store once it knows, and nothing resumes it.
                    if (ctx.cancellationSignal.aborted) return;
                    await checkpoints.save(e.path, e.step);
                    progress.checkpoint = e.step;
                  } else if (e.event === 'hosted_job') Object.assign(progress, { hostedJobId: e.id, hostedStatus: e.status });
                  ctx.heartbeat(progress);
                },
              },
            ),
          () => progress,
          GPU_HEARTBEAT_MS,
        );
        const out: TrainAdapterOutput = { metrics: { ...outcome.metrics, resumedFromStep: restored ?? null } };
        if (outcome.adapterDir) {
          out.adapterPrefix = adapterPrefix(input.jobId);
          out.adapterDigest = await folderDigest(outcome.adapterDir);
          out.metrics.adapterDigest = out.adapterDigest;
          await uploadDir(blob, outcome.adapterDir, out.adapterPrefix);
        }
        if (outcome.hostedModel) out.hostedModel = outcome.hostedModel;
        await blob.put(resultKey, JSON.stringify(out));
        return out;
      } catch (err) {
        throw cancelled(err);
      }
    },

    /** Answers the eval split with the student (base + adapter) or the base model alone; predictions go to the blob store. */
    async predictEval(input: PredictInput): Promise<{ predictionsKey: string }> {
      const { blob, runner, workRoot } = need();
      const ctx = Context.current();
      const predictionsKey = `jobs/${input.jobId}/predictions-${input.which}.jsonl`;
      if (await blob.stat(predictionsKey)) return { predictionsKey };
      const work = path.join(workRoot, input.jobId, `predict-${input.which}`);
      await mkdir(work, { recursive: true });
      const evalFile = path.join(work, 'eval.jsonl');
      await writeFile(evalFile, await blob.get(input.evalKey));
      let adapterDir: string | undefined;
      if (input.which === 'student' && input.adapterPrefix) {
        adapterDir = path.join(work, 'adapter');
        await downloadDir(blob, input.adapterPrefix, adapterDir);
      }
      const outputFile = path.join(work, 'predictions.jsonl');
      const progress: Record<string, unknown> = { phase: `predict-${input.which}` };
      try {
        await withHeartbeat(
          () =>
            runner(input.runner).predict(
              {
                baseModel: input.baseModel,
                adapterDir,
                hostedModel: input.which === 'student' ? input.hostedModel : undefined,
                evalFile,
                outputFile,
                maxNewTokens: input.maxNewTokens,
              },
              { signal: ctx.cancellationSignal, onProgress: (done, total) => Object.assign(progress, { done, total }) },
            ),
          () => progress,
          GPU_HEARTBEAT_MS,
        );
      } catch (err) {
        throw cancelled(err);
      }
      await blob.put(predictionsKey, await readFile(outputFile));
      return { predictionsKey };
    },
  };
}

export type GpuActivities = ReturnType<typeof createGpuActivities>;
