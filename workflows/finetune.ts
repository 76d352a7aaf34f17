import { ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { GpuActivities } from '../activities/gpu';
import type { GatePolicy } from '../src/distill/gate';
import type { DatasetOptions, TrainerConfig } from '../src/distill/types';

export interface FineTuneInput {
  tenantId: string;
  clusterRunId: string;
  /** The category: these clusters of the run (default: every cluster not already served by a template). */
  clusterIds?: string[];
  datasetOptions?: Partial<DatasetOptions>;
  trainer: TrainerConfig;
  runner: 'local' | 'openai';
  /** The GPU runners' task queue (config TEMPORAL_GPU_TASK_QUEUE). */
  gpuTaskQueue: string;
  gate?: Partial<GatePolicy>;
  maxNewTokens?: number;
  /** How long a runner may go silent before its job moves to another runner (default 2 minutes). */
  heartbeatTimeoutMs?: number;
}

export interface FineTuneOutput {
  datasetId: string;
  jobId: string;
  adapterId: string;
  status: 'candidate' | 'rejected';
  reasons: string[];
}

const cpu = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  // Every CPU activity here heartbeats (withHeartbeat): a lost worker is noticed in 30 s, not 30 minutes.
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: ['InputError'] },
});

/**
 * Distils one category: dataset (CPU) → fine-tune job on a GPU runner → the student and the base model answer the
 * eval split (GPU) → gate against the teacher's accepted answers → adapter registered as candidate or rejected,
 * with lineage. Cancelling the workflow cancels the training (the runner learns of it within seconds through its
 * heartbeats and stops the trainer) and, once the trainer has exited, marks the job cancelled.
 */
export async function fineTuneWorkflow(input: FineTuneInput): Promise<FineTuneOutput> {
  const gpu = proxyActivities<GpuActivities>({
    taskQueue: input.gpuTaskQueue,
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: input.heartbeatTimeoutMs ?? 120_000,
    // On cancel, wait until the runner reports the activity cancelled, i.e. the trainer has exited: only then is
    // the job marked cancelled (the SDK's default, stated because the job's status depends on it).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 20, nonRetryableErrorTypes: ['InputError'] },
  });
  const ds = await cpu.buildTrainingDataset({ tenantId: input.tenantId, clusterRunId: input.clusterRunId, clusterIds: input.clusterIds, options: input.datasetOptions });
  const { jobId } = await cpu.startFineTuneJob({ tenantId: input.tenantId, datasetId: ds.datasetId, runner: input.runner, config: input.trainer, workflowId: workflowInfo().workflowId });
  try {
    const trained = await gpu.trainAdapter({ jobId, trainKey: ds.trainKey, config: input.trainer, runner: input.runner });
    const common = { jobId, evalKey: ds.evalKey, baseModel: input.trainer.baseModel, adapterPrefix: trained.adapterPrefix, hostedModel: trained.hostedModel, maxNewTokens: input.maxNewTokens ?? 128, runner: input.runner };
    const student = await gpu.predictEval({ ...common, which: 'student' });
    const base = await gpu.predictEval({ ...common, which: 'base' });
    const verdict = await cpu.gateAdapter({ jobId, studentKey: student.predictionsKey, baseKey: base.predictionsKey, trained, policy: input.gate });
    return { datasetId: ds.datasetId, jobId, ...verdict };
  } catch (err) {
    const cancelled = isCancellation(err);
    await CancellationScope.nonCancellable(() => cpu.finishFineTuneJob({ jobId, status: cancelled ? 'cancelled' : 'failed', error: message(err) }));
    throw err;
  }
}

function message(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  if (err instanceof ApplicationFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}
