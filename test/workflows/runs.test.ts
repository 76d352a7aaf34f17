import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ids } from '../../src/temporal/contract';
import { scenarios } from './scenarios';
import { TASK_QUEUE, mockActivities, runWorker, timeSkippingEnv, workflowBundle } from './support';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  [env] = await Promise.all([timeSkippingEnv(), workflowBundle()]);
});
afterAll(async () => {
  await env?.teardown();
});

const runIdOf = async (h: { workflowId: string; describe(): Promise<{ runId: string }> }) => `${h.workflowId}@${(await h.describe()).runId}`;

describe('ingest and cluster workflows: run records', () => {
  it('an import walks the spans from checkpoint to checkpoint and closes its record with the totals', async () => {
    const { outcome, mocks, handle } = await scenarios['ingest-completed'](env);
    expect(outcome.ok).toBe(true);
    expect(mocks.of('importSpan').map((s) => [s.offset, s.line])).toEqual([
      [0, 1],
      [5, 2],
    ]);
    expect(mocks.of('finishIngestRun')).toEqual([
      { runId: await runIdOf(handle), tenantId: 't1', totals: { files: 1, lines: 2, stored: 1, duplicates: 1, rejected: 0, blank: 0 } },
    ]);
    expect(mocks.of('failRun')).toEqual([]);
  });

  it('a failed import marks its run record failed with the reason', async () => {
    const { outcome, mocks, handle } = await scenarios['ingest-failed'](env);
    expect(outcome.ok).toBe(false);
    expect(mocks.of('failRun')).toEqual([
      { runId: await runIdOf(handle), kind: 'ingest', tenantId: 't1', workflowId: handle.workflowId, error: 'the source vanished' },
    ]);
    expect(mocks.names()).not.toContain('finishIngestRun');
  });

  it('continuing as new is not a failure: the record keeps the first run id and closes once', async () => {
    let span = 0;
    const mocks = mockActivities({
      importSpan: async () =>
        ++span < 3
          ? { nextOffset: span * 3, nextLine: span + 1, eof: false, lines: 1, stored: 1, duplicates: 0, rejected: 0 }
          : { nextOffset: 10, nextLine: 4, eof: true, lines: 1, stored: 1, duplicates: 0, rejected: 0 },
    });
    const workflowId = ids.ingest('t2', 's3://b/big/');
    const out = await runWorker(env, mocks.activities, async () => {
      const h = await env.client.workflow.start('ingestWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ tenantId: 't2', source: 's3://b/big/', spansPerRun: 1 }],
      });
      return { result: await h.result(), runId: `${workflowId}@${h.firstExecutionRunId}` };
    });
    expect(mocks.of('failRun')).toEqual([]);
    expect(mocks.of('finishIngestRun')).toEqual([expect.objectContaining({ runId: out.runId, totals: expect.objectContaining({ stored: 3 }) })]);
    expect(new Set(mocks.of('importSpan').map((s) => s.runId))).toEqual(new Set([out.runId]));
  });

  it('a clustering runs snapshot → embed → cluster over the period and returns the run id', async () => {
    const { outcome, mocks, handle } = await scenarios['cluster-completed'](env);
    expect(outcome.ok).toBe(true);
    expect(mocks.names()).toEqual(['snapshotQueries', 'embedQueries', 'clusterAndRecord']);
    expect(mocks.of('snapshotQueries')[0]).toMatchObject({ from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' });
    expect((outcome as { value: { runId: string } }).value.runId).toBe(await runIdOf(handle));
  });

  it('a failed clustering marks its run record failed with the reason', async () => {
    const { outcome, mocks, handle } = await scenarios['cluster-failed'](env);
    expect(outcome.ok).toBe(false);
    expect(mocks.of('failRun')).toEqual([
      { runId: await runIdOf(handle), kind: 'cluster', tenantId: 't1', workflowId: handle.workflowId, error: 'no vectors for the run' },
    ]);
  });
});
