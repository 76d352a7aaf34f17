import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ids } from '../../src/temporal/contract';
import { retrainInput, scenarios } from './scenarios';
import { TASK_QUEUE, gate, mockActivities, runWorker, timeSkippingEnv, until, workflowBundle } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  [env] = await Promise.all([timeSkippingEnv(), workflowBundle()]);
});
afterAll(async () => {
  await env?.teardown();
});

describe('retrain workflow', () => {
  it('runs its stages in order and records each: cluster → graduate → distil → tiers → publish', async () => {
    const { outcome, mocks, handle } = await scenarios['retrain-completed'](env);
    expect(outcome.ok, String(!outcome.ok && outcome.error)).toBe(true);
    expect(mocks.of('recordRetrainStage').map((s) => s.stage)).toEqual(['start', 'cluster', 'graduate', 'distill', 'tiers', 'cheap', 'publish']);
    const order = mocks
      .names()
      .filter((n) =>
        [
          'snapshotQueries',
          'clusterAndRecord',
          'graduateRun',
          'pickDistillCategories',
          'trainAdapter',
          'gateAdapter',
          'activateAdapters',
          'runCheapTrials',
          'publishManifest',
          'finishRetrain',
        ].includes(n),
      );
    expect(order).toEqual([
      'snapshotQueries',
      'clusterAndRecord',
      'graduateRun',
      'pickDistillCategories',
      'trainAdapter',
      'gateAdapter',
      'activateAdapters',
      'runCheapTrials',
      'publishManifest',
      'finishRetrain',
    ]);
    // The distilled adapter is activated, the publish names this run, the run closes completed.
    expect(mocks.of('activateAdapters')[0]).toEqual({ tenantId: 't1', adapterIds: ['ad_1'] });
    const runId = `${handle.workflowId}@${(await handle.describe()).runId}`;
    expect(mocks.of('publishManifest')[0]).toMatchObject({ tenantId: 't1', runId });
    expect(mocks.of('finishRetrain')).toEqual([{ runId, status: 'completed' }]);
    expect(mocks.of('failRun')).toEqual([]);
    // A manual run's period: lookbackDays before now. (A scheduled run's period is tested against a real Schedule in
    // test/integration/schedule.test.ts: the test server knows no TemporalScheduledStartTime.)
    const { from, to } = mocks.of('recordRetrainStage')[0]!.stats;
    expect(Date.parse(to) - Date.parse(from)).toBe(30 * 86_400_000);
  });

  it('a failing stage fails the run: its record and the cluster run record say why, nothing later runs', async () => {
    const { outcome, mocks, handle } = await scenarios['retrain-failed'](env);
    expect(outcome.ok).toBe(false);
    const failed = mocks.of('failRun');
    const runId = `${handle.workflowId}@${(await handle.describe()).runId}`;
    expect(failed).toEqual([
      expect.objectContaining({ kind: 'cluster', tenantId: 't3', workflowId: ids.retrainChild.cluster(handle.workflowId), error: 'the embedder is down' }),
      { runId, kind: 'retrain', tenantId: 't3', workflowId: handle.workflowId, error: 'the embedder is down' },
    ]);
    expect(mocks.names()).not.toContain('graduateRun');
    expect(mocks.names()).not.toContain('publishManifest');
    expect(mocks.names()).not.toContain('finishRetrain');
  });

  it('one failing category does not stop the others or the publish', async () => {
    const mocks = mockActivities({
      pickDistillCategories: async () => ['bad', 'good'],
      buildTrainingDataset: async (i) =>
        i.clusterIds[0] === 'bad'
          ? Promise.reject(ApplicationFailure.nonRetryable('too few examples', 'InputError'))
          : { datasetId: 'ds', trainKey: 't', evalKey: 'e', counts: {} },
    });
    const out = await runWorker(env, mocks.activities, () =>
      env.client.workflow.execute('retrainWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: 'retrain:t4',
        args: [retrainInput('t4', { distill: { trainer: retrainInput('x').distill!.trainer, maxCategories: 2 } })],
      }),
    );
    expect((out as { adapters: unknown[] }).adapters).toEqual([
      { adapterId: '', status: expect.stringMatching(/^failed: /) },
      { adapterId: 'ad_1', status: 'candidate' },
    ]);
    expect(mocks.names()).toContain('publishManifest');
  });

  it('a cancelled fine-tune child cancels the retrain (no publish) and the run is marked failed', async () => {
    const training = gate();
    const mocks = mockActivities({
      pickDistillCategories: async () => ['c1'],
      trainAdapter: async () => {
        training.open();
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(100); // throws once the cancellation reaches this activity
        }
      },
    });
    const input = retrainInput('t5', { distill: { trainer: retrainInput('x').distill!.trainer, maxCategories: 1 } });
    const err = await runWorker(env, mocks.activities, async () => {
      const handle = await env.client.workflow.start('retrainWorkflow', { taskQueue: TASK_QUEUE, workflowId: 'retrain:t5', args: [input] });
      await training.promise;
      await handle.cancel();
      return handle.result().then(
        () => undefined,
        (e: Error) => e,
      );
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(mocks.of('finishFineTuneJob')).toEqual([expect.objectContaining({ status: 'cancelled' })]);
    expect(mocks.of('failRun')).toEqual([expect.objectContaining({ kind: 'retrain', tenantId: 't5' })]);
    expect(mocks.names()).not.toContain('publishManifest');
  });

  it('publishes serially: while another publish of the tenant runs, the retrain waits its turn', async () => {
    const first = gate();
    let publishes = 0;
    const events: string[] = [];
    const mocks = mockActivities({
      publishManifest: async (i) => {
        const n = ++publishes;
        events.push(`start ${i.runId}`);
        if (n === 1) await first.promise;
        events.push(`end ${i.runId}`);
        return { status: 'published', version: n, reasons: [] };
      },
    });
    const result = await runWorker(env, mocks.activities, async () => {
      const other = await env.client.workflow.start('publishWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: ids.publish('t6'),
        args: [{ tenantId: 't6', mode: 'publish', runId: 'manual:1' }],
      });
      await until(() => publishes === 1);
      const retrain = await env.client.workflow.start('retrainWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: 'retrain:t6',
        args: [retrainInput('t6', { distill: undefined })],
      });
      // The retrain reached its publish, found the publisher busy and waits (a timer), not failing.
      await until(async () => {
        const history = await retrain.fetchHistory();
        return history.events!.some((e) => e.timerStartedEventAttributes);
      });
      expect(publishes).toBe(1);
      first.open();
      await other.result();
      return retrain.result();
    });
    expect(result).toMatchObject({ publish: { status: 'published', version: 2 } });
    expect(events).toEqual(['start manual:1', 'end manual:1', expect.stringMatching(/^start retrain:t6@/), expect.stringMatching(/^end retrain:t6@/)]);
  });
});
