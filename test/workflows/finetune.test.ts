import { Context } from '@temporalio/activity';
import { ActivityFailure, ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FineTuneInput } from '../../src/temporal/contract';
import { scenarios, trainer } from './scenarios';
import { TASK_QUEUE, gate, mockActivities, runWorker, timeSkippingEnv, workflowBundle } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  [env] = await Promise.all([timeSkippingEnv(), workflowBundle()]);
});
afterAll(async () => {
  await env?.teardown();
});

const input: FineTuneInput = {
  tenantId: 't1',
  clusterRunId: 'run1',
  clusterIds: ['c1'],
  trainer,
  runner: 'local',
  gpuTaskQueue: TASK_QUEUE,
  heartbeatTimeoutMs: 2_000,
};

describe('fine-tune workflow', () => {
  it('dataset → job → train → student and base predictions → gate', async () => {
    const { outcome, mocks } = await scenarios['finetune-completed'](env);
    expect(outcome).toEqual({ ok: true, value: { datasetId: 'ds1', jobId: 'ft_1', adapterId: 'ad_1', status: 'candidate', reasons: [] } });
    expect(mocks.names()).toEqual(['buildTrainingDataset', 'startFineTuneJob', 'trainAdapter', 'predictEval', 'predictEval', 'gateAdapter']);
    expect(mocks.of('predictEval').map((p) => p.which)).toEqual(['student', 'base']);
  });

  it('cancelling it cancels the training, marks the job cancelled, and the workflow ends cancelled', async () => {
    const training = gate();
    let trainingSawCancel = false;
    const mocks = mockActivities({
      trainAdapter: async () => {
        training.open();
        const ctx = Context.current();
        try {
          for (;;) {
            ctx.heartbeat();
            await ctx.sleep(100); // rejects once the cancellation reaches the activity (through a heartbeat)
          }
        } catch (err) {
          trainingSawCancel = err instanceof CancelledFailure;
          throw err;
        }
      },
    });
    const err = await runWorker(env, mocks.activities, async () => {
      const h = await env.client.workflow.start('fineTuneWorkflow', { taskQueue: TASK_QUEUE, workflowId: 'finetune:t1:run1:cancel', args: [input] });
      await training.promise;
      await h.cancel();
      return h.result().then(
        () => undefined,
        (e: Error) => e,
      );
    });
    expect(trainingSawCancel).toBe(true);
    expect(mocks.of('finishFineTuneJob')).toEqual([{ jobId: 'ft_1', status: 'cancelled', error: expect.any(String) }]);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(mocks.names()).not.toContain('gateAdapter');
  });

  it("a failed training marks the job failed with the runner's reason", async () => {
    const mocks = mockActivities({ trainAdapter: async () => Promise.reject(ApplicationFailure.nonRetryable('CUDA out of memory', 'InputError')) });
    const err = await runWorker(env, mocks.activities, () =>
      env.client.workflow.execute('fineTuneWorkflow', { taskQueue: TASK_QUEUE, workflowId: 'finetune:t1:run1:oom', args: [input] }).then(
        () => undefined,
        (e: Error) => e,
      ),
    );
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(ActivityFailure);
    expect(mocks.of('finishFineTuneJob')).toEqual([{ jobId: 'ft_1', status: 'failed', error: 'CUDA out of memory' }]);
  });
});
