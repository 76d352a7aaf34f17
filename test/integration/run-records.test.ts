import { and, eq } from 'drizzle-orm';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { runs } from '../../src/db/schema';
import { runRecordId } from '../../src/temporal/contract';
import { createRetrainSchedule, startClustering, startIngest, startRetrain } from '../../src/temporal/starters';
import { useStackWithWorker } from '../support/stack';
import { waitFor } from '../support/workers';

/**
 * Run records on the real stack: a failed ingest, clustering or retrain leaves its record `failed` with the reason,
 * and a backfilled retrain snapshots the period of its scheduled time, not of the day it ran.
 */
const tenant = 'runs-it';
const stack = useStackWithWorker(tenant);
const ghost = 'runs-it-unknown'; // never created: the first activity refuses it

const recordOf = async (h: { workflowId: string; firstExecutionRunId: string }) => {
  const [r] = await stack()
    .db.select()
    .from(runs)
    .where(eq(runs.id, runRecordId(h.workflowId, h.firstExecutionRunId)));
  return r;
};

describe('run records', () => {
  it('a failed import is recorded failed with the reason', async () => {
    const h = await startIngest(
      stack().client,
      stack().taskQueue,
      { tenantId: tenant, source: `${stack().importsDir(tenant)}/missing/logs.jsonl` },
      stack().allowedSources,
    );
    await expect(h.result()).rejects.toThrow();
    expect(await recordOf(h)).toMatchObject({
      kind: 'ingest',
      tenantId: tenant,
      status: 'failed',
      error: expect.stringMatching(/no file or directory at .*missing/),
    });
  });

  it('a failed clustering is recorded failed with the reason', async () => {
    const h = await startClustering(stack().client, stack().taskQueue, { tenantId: ghost, to: '2026-11-01T00:00:00.000Z' });
    await expect(h.result()).rejects.toThrow();
    const r = await recordOf(h);
    expect(r).toMatchObject({ kind: 'cluster', tenantId: ghost, status: 'failed', error: expect.stringMatching(/unknown tenant "runs-it-unknown"/) });
    expect(r!.finishedAt).toBeInstanceOf(Date);
  });

  it('a failed retrain is recorded failed with the reason its stage failed for', async () => {
    const h = await startRetrain(stack().client, stack().taskQueue, { tenantId: ghost, gpuTaskQueue: stack().temporal.gpuTaskQueue });
    await expect(h.result()).rejects.toThrow();
    const r = await recordOf(h);
    expect(r).toMatchObject({ kind: 'retrain', status: 'failed', error: expect.stringMatching(/unknown tenant "runs-it-unknown"/) });
    // It got as far as recording its start stage, then its clustering failed.
    expect(Object.keys((r!.stats as { stages: object }).stages)).toEqual(['start']);
  });

  it('a backfill over two past months runs one retrain per month, each over that month', async () => {
    // Twelve interactions in mid-August and eight in mid-September 2026.
    const data = loadSharedDataset('bitext-v1').slice(0, 20);
    const records = data.map((ex, i) => ({
      ...toLogRecord(ex, i, { start: new Date(i < 12 ? '2026-08-10T00:00:00Z' : '2026-09-10T00:00:00Z') }),
      idempotency_key: `runs-${i}`,
    }));
    const key = 'imports/runs-it/months.jsonl';
    await stack().blob.put(key, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    expect(
      (
        await (
          await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
        ).result()
      ).stored,
    ).toBe(20);

    // Paused: only the backfill runs. 03:00 UTC on the 1st; each run looks back 30 days.
    const schedule = await createRetrainSchedule(
      stack().client,
      stack().taskQueue,
      { tenantId: tenant, lookbackDays: 30, gpuTaskQueue: stack().temporal.gpuTaskQueue, graduation: { remindEveryMs: 3_600_000 } },
      { cron: '0 3 1 * *', paused: true },
    );
    try {
      await schedule.backfill({ start: new Date('2026-09-01T00:00:00Z'), end: new Date('2026-10-01T12:00:00Z'), overlap: ScheduleOverlapPolicy.BUFFER_ALL });
      const retrains = async () =>
        stack()
          .db.select()
          .from(runs)
          .where(and(eq(runs.kind, 'retrain'), eq(runs.tenantId, tenant)));
      await waitFor(
        'both backfilled retrains to finish',
        async () => ((await retrains()).filter((r) => r.status !== 'running').length === 2 ? true : undefined),
        170_000,
      );
      const done = (await retrains()).sort((a, b) => a.workflowId.localeCompare(b.workflowId));
      expect(done.map((r) => r.status)).toEqual(['completed', 'completed']);
      const periods = done.map((r) => {
        const { from, to } = (r.stats as unknown as { stages: { start: { from: string; to: string } } }).stages.start;
        return { from, to };
      });
      expect(periods).toEqual([
        { from: '2026-08-02T03:00:00.000Z', to: '2026-09-01T03:00:00.000Z' },
        { from: '2026-09-01T03:00:00.000Z', to: '2026-10-01T03:00:00.000Z' },
      ]);
      // Each clustering covered its month's interactions only.
      const clusterings = await stack()
        .db.select()
        .from(runs)
        .where(and(eq(runs.kind, 'cluster'), eq(runs.tenantId, tenant)));
      const byPeriod = Object.fromEntries(clusterings.map((c) => [(c.params as { to: string }).to, (c.stats as { interactions: number }).interactions]));
      expect(byPeriod).toEqual({ '2026-09-01T03:00:00.000Z': 12, '2026-10-01T03:00:00.000Z': 8 });
    } finally {
      await schedule.delete();
    }
  });
});
