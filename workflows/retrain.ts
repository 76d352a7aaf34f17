import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, executeChild, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ClusterParams } from '../src/clustering/cluster';
import type { GatePolicy } from '../src/distill/gate';
import type { TrainerConfig } from '../src/distill/types';
import type { ReplayPolicy } from '../src/manifest/replay';
import { clusterWorkflow } from './cluster';
import { fineTuneWorkflow } from './finetune';
import { graduateWorkflow } from './graduate';
import { type PublishOutput, publishWorkflow } from './publish';

export interface RetrainInput {
  tenantId: string;
  /** The snapshot: interactions of the last N days before the run (default 90). */
  lookbackDays?: number;
  cluster?: Partial<ClusterParams>;
  graduation?: { remindEveryMs?: number; expireAfterMs?: number };
  /** Distillation is on when a trainer is given (its base model must exist on the GPU runners). */
  distill?: {
    trainer: TrainerConfig;
    runner?: 'local' | 'openai';
    /** Most categories (clusters, largest first, not served by a template) fine-tuned per run. Default 3. */
    maxCategories?: number;
    /** Smallest traffic share a category needs. Default 0.02. */
    minShare?: number;
    /** Serve adapters that pass the gate without a human step. Default true. */
    autoActivate?: boolean;
    gate?: Partial<GatePolicy>;
    maxNewTokens?: number;
  };
  publish?: { replayShare?: number; policy?: Partial<ReplayPolicy> };
  /** The GPU runners' queue (TEMPORAL_GPU_TASK_QUEUE). */
  gpuTaskQueue: string;
}

export interface RetrainOutput {
  runId: string;
  clusterRunId: string;
  candidatesForReview: number;
  adapters: Array<{ adapterId: string; status: string }>;
  publish: PublishOutput;
}

const acts = proxyActivities<Activities>({
  // Bookkeeping only (run record, category choice, activations): quick, so a short budget finds a lost worker fast.
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: ['InputError'] },
});

/**
 * The monthly retrain: snapshot + cluster → graduate (reviews then run on their own) → distil the largest
 * untemplated categories (fine-tune children) → tier updates → replay + publish (the tenant's single publisher).
 * Every stage is a child workflow or an idempotent activity named after this run, so a crash anywhere resumes
 * where it stopped, and the run record says how long each stage took.
 */
export async function retrainWorkflow(input: RetrainInput): Promise<RetrainOutput> {
  const info = workflowInfo();
  const runId = `${info.workflowId}@${info.firstExecutionRunId}`;
  const to = new Date(Date.now());
  const from = new Date(to.getTime() - (input.lookbackDays ?? 90) * 86_400_000);
  let t = Date.now();
  const stage = async (name: string, stats: Record<string, unknown>) => {
    const now = Date.now();
    await acts.recordRetrainStage({ runId, tenantId: input.tenantId, workflowId: info.workflowId, stage: name, seconds: (now - t) / 1000, stats });
    t = now;
  };
  await stage('start', { from: from.toISOString(), to: to.toISOString() });

  const clustered = await executeChild(clusterWorkflow, {
    workflowId: `${info.workflowId}/cluster`,
    args: [{ tenantId: input.tenantId, from: from.toISOString(), to: to.toISOString(), acceptedOnly: false, params: input.cluster }],
  });
  await stage('cluster', { clusters: clustered.clusters, interactions: clustered.interactions, events: clustered.events });

  const graduated = await executeChild(graduateWorkflow, {
    workflowId: `${info.workflowId}/graduate`,
    args: [{ tenantId: input.tenantId, clusterRunId: clustered.runId, ...input.graduation }],
  });
  await stage('graduate', { passed: graduated.passed, failed: graduated.failed });

  const adapters: RetrainOutput['adapters'] = [];
  if (input.distill) {
    const d = input.distill;
    const categories = await acts.pickDistillCategories({ tenantId: input.tenantId, clusterRunId: clustered.runId, maxCategories: d.maxCategories ?? 3, minShare: d.minShare ?? 0.02 });
    for (const clusterId of categories) {
      try {
        const out = await executeChild(fineTuneWorkflow, {
          // Named after this run (runId holds its first execution's id): a replay or retry of the run finds its child
          // again, the next manual retrain (same workflow id) starts a new one. The job id inside adds the dataset and
          // the trainer config (one config per run), so new data trains anew.
          workflowId: `${runId}/finetune/${clusterId}`,
          args: [{ tenantId: input.tenantId, clusterRunId: clustered.runId, clusterIds: [clusterId], trainer: d.trainer, runner: d.runner ?? 'local', gpuTaskQueue: input.gpuTaskQueue, gate: d.gate, maxNewTokens: d.maxNewTokens }],
        });
        adapters.push({ adapterId: out.adapterId, status: out.status });
      } catch (err) {
        // One category failing (bad data, a runner problem) must not stop the others or the publish.
        adapters.push({ adapterId: '', status: `failed: ${(err as Error).message}` });
      }
    }
    await stage('distill', { categories: categories.length, adapters });
    if (d.autoActivate !== false) {
      const activated = await acts.activateAdapters({ tenantId: input.tenantId, adapterIds: adapters.filter((a) => a.status === 'candidate').map((a) => a.adapterId) });
      await stage('tiers', { activated });
    }
  }

  const publish = await publishSerially(input.tenantId, { tenantId: input.tenantId, mode: 'publish', runId, replayShare: input.publish?.replayShare, policy: input.publish?.policy, threshold: input.cluster?.threshold });
  await stage('publish', { ...publish });
  await acts.finishRetrain({ runId, status: 'completed' });
  return { runId, clusterRunId: clustered.runId, candidatesForReview: graduated.passed, adapters, publish };
}

/** Publishes through the tenant's single publisher workflow; if another publish or rollback runs, waits its turn. */
async function publishSerially(tenantId: string, args: Parameters<typeof publishWorkflow>[0]) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await executeChild(publishWorkflow, { workflowId: `publish:${tenantId}`, args: [args], parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || attempt > 360) throw err;
      await sleep('10 seconds');
    }
  }
}
