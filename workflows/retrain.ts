import { executeChild, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ids, type PublishInput, RETRY, type RetrainInput, type RetrainOutput, runRecordId, SCHEDULED_START_TIME } from '../src/temporal/contract';
import { clusterWorkflow } from './cluster';
import { recordingFailure } from './failure';
import { fineTuneWorkflow } from './finetune';
import { graduateWorkflow } from './graduate';
import { publishSerially } from './publish';

const acts = proxyActivities<Activities>({
  // Bookkeeping only (run record, category choice, activations): quick, so a short budget finds a lost worker fast.
  startToCloseTimeout: '1 minute',
  retry: RETRY.standard,
});

/** Cheap-model trials call a model for up to a few hundred queries per route: long, heartbeating, resumable. */
const trials = proxyActivities<Activities>({ startToCloseTimeout: '2 hours', heartbeatTimeout: '2 minutes', retry: RETRY.long });

/**
 * The monthly retrain: snapshot + cluster → graduate (reviews then run on their own) → distil the largest
 * untemplated categories (fine-tune children) → tier updates → replay + publish (the tenant's single publisher).
 * Every stage is a child workflow or an idempotent activity named after this run, so a crash anywhere resumes
 * where it stopped, and the run record says how long each stage took. A failure marks the run record failed.
 */
export async function retrainWorkflow(input: RetrainInput): Promise<RetrainOutput> {
  const info = workflowInfo();
  const runId = runRecordId(info.workflowId, info.firstExecutionRunId);
  // Changes to this workflow meet running executions (monthly runs, reviews waiting on them): each is guarded by a
  // patch, so executions started on the old code replay as they ran (see README "Versioning workflows").
  const failures = patched('retrain-failures');
  const run = () => retrain(input, runId, failures);
  if (!failures) return run();
  return recordingFailure(run, (error) => acts.failRun({ runId, kind: 'retrain', tenantId: input.tenantId, workflowId: info.workflowId, error }));
}

async function retrain(input: RetrainInput, runId: string, rethrowCancellation: boolean): Promise<RetrainOutput> {
  const info = workflowInfo();
  const to = new Date(periodEnd());
  const from = new Date(to.getTime() - (input.lookbackDays ?? 90) * 86_400_000);
  let t = Date.now();
  const stage = async (name: string, stats: Record<string, unknown>) => {
    const now = Date.now();
    await acts.recordRetrainStage({ runId, tenantId: input.tenantId, workflowId: info.workflowId, stage: name, seconds: (now - t) / 1000, stats });
    t = now;
  };
  await stage('start', { from: from.toISOString(), to: to.toISOString() });

  const clustered = await executeChild(clusterWorkflow, {
    workflowId: ids.retrainChild.cluster(info.workflowId),
    args: [{ tenantId: input.tenantId, from: from.toISOString(), to: to.toISOString(), acceptedOnly: false, params: input.cluster }],
  });
  await stage('cluster', { clusters: clustered.clusters, interactions: clustered.interactions, events: clustered.events });

  const graduated = await executeChild(graduateWorkflow, {
    workflowId: ids.retrainChild.graduate(info.workflowId),
    args: [{ tenantId: input.tenantId, clusterRunId: clustered.runId, ...input.graduation }],
  });
  await stage('graduate', { passed: graduated.passed, failed: graduated.failed });

  const adapters: RetrainOutput['adapters'] = [];
  if (input.distill) {
    const d = input.distill;
    const categories = await acts.pickDistillCategories({
      tenantId: input.tenantId,
      clusterRunId: clustered.runId,
      maxCategories: d.maxCategories ?? 3,
      minShare: d.minShare ?? 0.02,
    });
    for (const clusterId of categories) {
      try {
        const out = await executeChild(fineTuneWorkflow, {
          // Named after this run (runId holds its first execution's id): a replay or retry of the run finds its child
          // again, the next manual retrain (same workflow id) starts a new one; the job id inside adds the dataset and
          // the trainer config, so new data trains anew. Runs started before this change keep their old child ids.
          workflowId: ids.retrainChild.fineTune(patched('finetune-child-per-run') ? runId : info.workflowId, clusterId),
          args: [
            {
              tenantId: input.tenantId,
              clusterRunId: clustered.runId,
              clusterIds: [clusterId],
              trainer: d.trainer,
              runner: d.runner ?? 'local',
              gpuTaskQueue: input.gpuTaskQueue,
              gate: d.gate,
              maxNewTokens: d.maxNewTokens,
            },
          ],
        });
        adapters.push({ adapterId: out.adapterId, status: out.status });
      } catch (err) {
        // A cancelled fine-tune (this retrain cancelled, or the job cancelled by hand) stops the retrain: carrying
        // on would publish a run someone asked to stop.
        if (rethrowCancellation && isCancellation(err)) throw err;
        // One category failing (bad data, a runner problem) must not stop the others or the publish.
        adapters.push({ adapterId: '', status: `failed: ${(err as Error).message}` });
      }
    }
    await stage('distill', { categories: categories.length, adapters });
    if (d.autoActivate !== false) {
      const activated = await acts.activateAdapters({
        tenantId: input.tenantId,
        adapterIds: adapters.filter((a) => a.status === 'candidate').map((a) => a.adapterId),
      });
      await stage('tiers', { activated });
    }
  }

  // Cheap-model trials after distillation: a route an adapter now serves is not tried.
  if (input.cheap !== false && patched('cheap-trials')) {
    const cheap = await trials.runCheapTrials({ tenantId: input.tenantId, clusterRunId: clustered.runId, ...(input.cheap ?? {}) });
    await stage('cheap', { ...cheap });
  }

  const publish = await publishSerially(input.tenantId, {
    tenantId: input.tenantId,
    mode: 'publish',
    runId,
    replayShare: input.publish?.replayShare,
    policy: input.publish?.policy,
    threshold: input.cluster?.threshold,
  });
  await stage('publish', { ...publish });
  await acts.finishRetrain({ runId, status: 'completed' });
  return { runId, clusterRunId: clustered.runId, candidatesForReview: graduated.passed, adapters, publish };
}

/**
 * The end of the snapshot period: a scheduled or backfilled run covers the period before the time it stands for
 * (TemporalScheduledStartTime), not before whenever it happened to start; a manual run covers the period up to now.
 */
function periodEnd(): number {
  if (patched('retrain-scheduled-period')) {
    const scheduled = workflowInfo().typedSearchAttributes.get(SCHEDULED_START_TIME);
    if (scheduled) return scheduled.getTime();
  }
  return Date.now();
}
