import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type {
  ClusterInput,
  FineTuneInput,
  GraduateInput,
  IngestInput,
  PublishInput,
  RetrainInput,
  ReviewInput,
  ReviewPublishInput,
} from '../../src/temporal/contract';
import { decideUpdate, ids, reviewDecidedSignal } from '../../src/temporal/contract';
import { TASK_QUEUE, mockActivities, runWorker } from './support';

/**
 * Named runs of each workflow over mocked activities. The workflow tests assert on them; record-histories.ts saves
 * their histories for the replay test, so every workflow's recorded history comes from a run the tests also check.
 */
export interface ScenarioRun {
  handle: WorkflowHandle;
  mocks: ReturnType<typeof mockActivities>;
  /** The workflow's result, or the error it failed with. */
  outcome: { ok: true; value: any } | { ok: false; error: Error };
}

const HOUR = 3_600_000;

export const trainer = { baseModel: '/models/base', loraRank: 4, maxSteps: 2, maxLength: 64, seed: 1 } as unknown as FineTuneInput['trainer'];
export const retrainInput = (tenantId: string, extra: Partial<RetrainInput> = {}): RetrainInput => ({
  tenantId,
  lookbackDays: 30,
  gpuTaskQueue: TASK_QUEUE,
  distill: { trainer, maxCategories: 1 },
  ...extra,
});

async function run(
  env: TestWorkflowEnvironment,
  mocks: ReturnType<typeof mockActivities>,
  type: string,
  workflowId: string,
  arg: unknown,
  during?: (h: WorkflowHandle) => Promise<void>,
  cleanup?: (value: any) => Promise<void>,
): Promise<ScenarioRun> {
  return runWorker(env, mocks.activities, async () => {
    const handle = await env.client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId, args: [arg] });
    await during?.(handle);
    const outcome = await handle.result().then(
      (value) => ({ ok: true as const, value }),
      (error: Error) => ({ ok: false as const, error }),
    );
    // Workflows this one left running (abandoned children) finish while the worker still runs: an execution whose
    // worker is gone holds the test server's clock back (or hangs) every later run in the environment.
    if (outcome.ok) await cleanup?.(outcome.value);
    return { handle, mocks, outcome };
  });
}

export const scenarios = {
  /** A two-span import (the first span stops mid-file). */
  'ingest-completed': (env: TestWorkflowEnvironment) => {
    let span = 0;
    const mocks = mockActivities({
      importSpan: async () =>
        ++span === 1
          ? { nextOffset: 5, nextLine: 2, eof: false, lines: 1, stored: 1, duplicates: 0, rejected: 0, blank: 0 }
          : { nextOffset: 10, nextLine: 3, eof: true, lines: 1, stored: 0, duplicates: 1, rejected: 0, blank: 0 },
    });
    const input: IngestInput = { tenantId: 't1', source: 's3://b/logs/' };
    return run(env, mocks, 'ingestWorkflow', ids.ingest(input.tenantId, input.source), input);
  },

  'ingest-failed': (env: TestWorkflowEnvironment) => {
    const mocks = mockActivities({ importSpan: async () => Promise.reject(ApplicationFailure.nonRetryable('the source vanished', 'SourceGone')) });
    const input: IngestInput = { tenantId: 't1', source: 's3://b/gone/' };
    return run(env, mocks, 'ingestWorkflow', ids.ingest(input.tenantId, input.source), input);
  },

  'cluster-completed': (env: TestWorkflowEnvironment) => {
    const input: ClusterInput = { tenantId: 't1', from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' };
    return run(env, mockActivities(), 'clusterWorkflow', ids.cluster(input), input);
  },

  'cluster-failed': (env: TestWorkflowEnvironment) => {
    const mocks = mockActivities({ clusterAndRecord: async () => Promise.reject(ApplicationFailure.nonRetryable('no vectors for the run', 'InputError')) });
    const input: ClusterInput = { tenantId: 't1', from: '2026-09-01T00:00:00.000Z', to: '2026-10-01T00:00:00.000Z' };
    return run(env, mocks, 'clusterWorkflow', ids.cluster(input), input);
  },

  /** Graduation that opens one review (which then runs on its own). */
  'graduate-completed': (env: TestWorkflowEnvironment) => {
    const mocks = mockActivities({
      graduateRun: async () => ({ pending: [{ id: 'cand_g1', trafficShare: 0.3 }], passed: 1, failed: 0, clustersConsidered: 2 }),
    });
    const input: GraduateInput = { tenantId: 't1', clusterRunId: 'run1', remindEveryMs: HOUR, expireAfterMs: 2 * HOUR };
    return run(env, mocks, 'graduateWorkflow', ids.graduate(input.tenantId, input.clusterRunId), input, undefined, async (out: { reviews: string[] }) => {
      for (const id of out.reviews) await env.client.workflow.getHandle(id).result(); // expires (time skipped)
    });
  },

  /** Undecided: reminded every hour, expires after 3.5 hours (time skipped). */
  'review-expired': (env: TestWorkflowEnvironment) => {
    const input: ReviewInput = { tenantId: 't1', candidateId: 'cand_exp', remindEveryMs: HOUR, expireAfterMs: 3.5 * HOUR };
    return run(env, mockActivities(), 'reviewWorkflow', ids.review(input.candidateId), input);
  },

  /** Approved with an edit after one reminder. */
  'review-approved': (env: TestWorkflowEnvironment) => {
    const input: ReviewInput = { tenantId: 't1', candidateId: 'cand_ok', remindEveryMs: HOUR, expireAfterMs: 24 * HOUR };
    return run(env, mockActivities(), 'reviewWorkflow', ids.review(input.candidateId), input, async (h) => {
      await env.sleep(HOUR + 60_000);
      await h.executeUpdate(decideUpdate, { args: [{ action: 'approve_with_edits', reviewer: 'ana', template: 'Your order {{order}} is on its way.' }] });
    });
  },

  /** Two decisions in one quiet spell, then one publish. */
  'review-publish-completed': (env: TestWorkflowEnvironment) => {
    const input: ReviewPublishInput = { tenantId: 't1', debounceMs: 60_000, decided: [] };
    const signalled = (candidateId: string) =>
      env.client.workflow.signalWithStart('reviewPublishWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: ids.reviewPublish(input.tenantId),
        args: [input],
        signal: reviewDecidedSignal,
        signalArgs: [candidateId],
      });
    return runWorker(env, mockActivities().activities, async () => {
      const handle = await signalled('cand_1');
      await env.sleep(30_000);
      await signalled('cand_2');
      const outcome = await handle.result().then(
        (value) => ({ ok: true as const, value }),
        (error: Error) => ({ ok: false as const, error }),
      );
      return { handle, mocks: mockActivities(), outcome };
    });
  },

  'finetune-completed': (env: TestWorkflowEnvironment) => {
    const input: FineTuneInput = { tenantId: 't1', clusterRunId: 'run1', clusterIds: ['c1'], trainer, runner: 'local', gpuTaskQueue: TASK_QUEUE };
    return run(env, mockActivities(), 'fineTuneWorkflow', 'finetune:t1:run1:test', input);
  },

  'publish-completed': (env: TestWorkflowEnvironment) => {
    const input: PublishInput = { tenantId: 't1', mode: 'publish', runId: 'manual:1', actor: 'test' };
    return run(env, mockActivities(), 'publishWorkflow', ids.publish(input.tenantId), input);
  },

  'rollback-completed': (env: TestWorkflowEnvironment) => {
    const input: PublishInput = { tenantId: 't2', mode: 'rollback', toVersion: 1, actor: 'test' };
    return run(env, mockActivities(), 'publishWorkflow', ids.publish(input.tenantId), input);
  },

  /** Every stage: cluster, graduate, one distilled category, tier update, publish. */
  'retrain-completed': (env: TestWorkflowEnvironment) => {
    const mocks = mockActivities({ pickDistillCategories: async () => ['c1'] });
    return run(env, mocks, 'retrainWorkflow', ids.retrain('t1'), retrainInput('t1'));
  },

  /** The clustering child fails: the retrain fails and both run records say why. */
  'retrain-failed': (env: TestWorkflowEnvironment) => {
    const mocks = mockActivities({ clusterAndRecord: async () => Promise.reject(ApplicationFailure.nonRetryable('the embedder is down', 'EmbedderDown')) });
    return run(env, mocks, 'retrainWorkflow', ids.retrain('t3'), retrainInput('t3'));
  },
};

export type ScenarioName = keyof typeof scenarios;
