import { Context } from '@temporalio/activity';
import type { BlobStore } from '../src/blob';
import type { Db } from '../src/db/client';
import { type BuildDatasetInput, type BuiltDataset, buildAndStoreDataset } from '../src/distill/build';
import { fineTuneJobId } from '../src/distill/fingerprint';
import type { DatasetFiles, DatasetFilesInput } from '../src/distill/thread';
import { runInThread } from '../src/threads/run';
import { DEFAULT_GATE, type GatePolicy, type JudgedPredictions, type Prediction, gate } from '../src/distill/gate';
import type { Judge } from '../src/judge/types';
import { endJob, findAdapter, getDataset, getJob, registerAdapter, startJob } from '../src/distill/store';
import type { TrainerConfig } from '../src/distill/types';
import type { EmbedderSource } from '../src/embeddings/lazy';
import { embedWithCache } from '../src/embeddings/cache';
import { cosine } from '../src/embeddings/types';
import type { TrainAdapterOutput } from './gpu';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';
import type { Runner } from '../src/vocabulary';

const DATASET_TASK = new URL('../src/distill/thread.ts', import.meta.url);

export interface DistillDeps {
  db: Db;
  blob: BlobStore;
  embedder: EmbedderSource;
  /**
   * The tenant's judge (src/judge: the calibrated EmbeddingJudge by default). When it gives one, the gate decides
   * free text on judged agreement with the accepted answers; without (no calibration yet), on mean cosine.
   */
  judge?: (tenantId: string) => Promise<Judge | undefined>;
}

/** What the gate compares: the student's and the base model's predictions on a job's eval split. */
interface GateAdapterInput {
  jobId: string;
  studentKey: string;
  baseKey: string;
  trained: TrainAdapterOutput;
  policy?: Partial<GatePolicy>;
}

type GateVerdict = { adapterId: string; status: 'candidate' | 'rejected'; reasons: string[] };

export function createDistillActivities({ db, blob, embedder, judge }: DistillDeps) {
  return {
    /** Builds and stores the category's dataset (see buildAndStoreDataset). */
    async buildTrainingDataset(input: BuildDatasetInput): Promise<BuiltDataset> {
      // The build itself (scrub, near-duplicates, split, hashing) runs in a worker thread so heartbeats keep flowing.
      const signal = Context.current().cancellationSignal;
      return failFastOnInput(() =>
        withHeartbeat(() =>
          buildAndStoreDataset(db, blob, input, (i) => runInThread<DatasetFilesInput, DatasetFiles>(DATASET_TASK, 'buildDatasetFilesTask', i, { signal })),
        ),
      );
    },

    /**
     * Records the job, status running. Its id derives from the run (the workflow id), the dataset's content id and
     * the trainer config's fingerprint: a retried run finds its own job again, while a later run on new data (whose
     * workflow id may be the same, for a retrain's children) trains a new one instead of reusing the old result.
     */
    async startFineTuneJob(input: {
      tenantId: string;
      datasetId: string;
      runner: Runner;
      config: TrainerConfig;
      workflowId: string;
    }): Promise<{ jobId: string }> {
      const jobId = fineTuneJobId(input);
      await startJob(db, { id: jobId, ...input });
      return { jobId };
    },

    async finishFineTuneJob(input: { jobId: string; status: 'failed' | 'cancelled'; error?: string }): Promise<void> {
      await endJob(db, input.jobId, input.status, input.error ?? null);
    },

    /**
     * The gate: embeds student, base and reference answers, compares, and registers the adapter as candidate (passed)
     * or rejected, with its evaluation and lineage. Idempotent on the job.
     */
    async gateAdapter(input: GateAdapterInput): Promise<GateVerdict> {
      return withHeartbeat(() => gateAndRegister(input));
    },
  };

  async function gateAndRegister(input: GateAdapterInput): Promise<GateVerdict> {
    const adapterId = `ad_${input.jobId.slice(3)}`;
    const existing = await findAdapter(db, adapterId);
    if (existing) return { adapterId, status: existing.status as 'candidate' | 'rejected', reasons: existing.evaluation.reasons };
    const job = await getJob(db, input.jobId);
    if (!job) throw new Error(`no fine-tune job ${input.jobId}`);
    const ds = await getDataset(db, job.datasetId);
    const read = async (key: string) =>
      (await blob.get(key))
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Prediction);
    const student = await read(input.studentKey);
    const base = await read(input.baseKey);
    const model = await embedder();
    const texts = [...student.map((p) => p.prediction), ...student.map((p) => p.reference), ...base.map((p) => p.prediction), ...base.map((p) => p.reference)];
    const vecs = await embedWithCache(
      db,
      model,
      texts.map((t) => t || ' '),
    );
    const n = student.length;
    const m = base.length;
    const studentSim = student.map((_, i) => cosine(vecs[i]!, vecs[n + i]!));
    const baseSim = base.map((_, i) => cosine(vecs[2 * n + i]!, vecs[2 * n + m + i]!));
    const tenantJudge = await judge?.(job.tenantId);
    let judged: JudgedPredictions | undefined;
    if (tenantJudge) {
      const verdicts = await tenantJudge.judge(
        [...student, ...base].map((p) => ({ query: '', candidate: p.prediction || ' ', reference: p.reference || ' ' })),
      );
      judged = { judge: tenantJudge.id, student: verdicts.slice(0, n).map((v) => v.pAgree), base: verdicts.slice(n).map((v) => v.pAgree) };
    }
    const evaluation = gate(student, base, studentSim, baseSim, { ...DEFAULT_GATE, ...input.policy }, judged);
    const status = evaluation.verdict === 'pass' ? 'candidate' : 'rejected';
    const config = job.config;
    await registerAdapter(
      db,
      {
        id: adapterId,
        tenantId: job.tenantId,
        jobId: job.id,
        datasetId: job.datasetId,
        name: `${job.tenantId}-${job.datasetId.slice(0, 12)}`,
        baseModel: config.baseModel,
        uri: input.trained.hostedModel ?? blob.uri(`${input.trained.adapterPrefix}/`),
        status,
        evaluation,
        lineage: {
          clusterRunId: ds!.clusterRunId,
          clusterIds: ds!.clusterIds,
          datasetId: job.datasetId,
          jobId: job.id,
          runner: job.runner,
          config,
          metrics: input.trained.metrics,
        },
      },
      { metrics: input.trained.metrics, adapterKey: input.trained.adapterPrefix ?? input.trained.hostedModel ?? null },
    );
    return { adapterId, status, reasons: evaluation.reasons };
  }
}
