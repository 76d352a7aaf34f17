import { desc, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { clusterEvents, clusters, clusterSnapshots } from '../../src/db/schema';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { useStackWithWorker } from '../support/stack';
import { startClustering, startIngest } from '../../src/temporal/starters';

const tenant = 'cluster-it';
const stack = useStackWithWorker(tenant);

/** Real customer-support queries of a few intents (labels only choose the data and score the result). */
const examples = loadSharedDataset('bitext-v2');
const intents = ['cancel_order', 'track_order', 'get_refund', 'change_shipping_address', 'recover_password', 'payment_issue'];
const newIntent = 'newsletter_subscription';

async function ingest(key: string, rows: typeof examples, offset: number) {
  await stack().blob.put(key, rows.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, offset + i), idempotency_key: `cl-${offset + i}` })).join('\n') + '\n');
  return (
    await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
  ).result();
}

let runs = 0;
async function cluster() {
  // Each run names its own period end (all after the data), so each gets its own workflow id and run record.
  const handle = await startClustering(stack().client, stack().taskQueue, {
    tenantId: tenant,
    to: new Date(Date.UTC(2030, 0, 1) + ++runs * 1000).toISOString(),
  });
  return handle.result();
}

describe('cluster workflow', () => {
  let first: Awaited<ReturnType<typeof cluster>>;
  const base = examples.filter((e) => intents.includes(e.label));

  it('clusters ingested interactions into labelled, traffic-ranked clusters with members', async () => {
    const imported = await ingest('imports/cluster-it/base.jsonl', base, 0);
    expect(imported.stored).toBe(base.length);
    first = await cluster();
    expect(first.interactions).toBe(base.length);
    expect(first.clusters).toBeGreaterThanOrEqual(intents.length);
    expect(first.clusteredShare).toBeGreaterThan(0.8);
    expect(first.events.new).toBe(first.clusters);

    const snaps = await stack().db.select().from(clusterSnapshots).where(eq(clusterSnapshots.runId, first.runId)).orderBy(desc(clusterSnapshots.share));
    expect(snaps).toHaveLength(first.clusters);
    expect(snaps[0]!.share).toBeGreaterThan(0.05);
    expect(snaps[0]!.representatives.length).toBeGreaterThan(0);
    expect(snaps[0]!.keywords.length).toBeGreaterThan(0);
    // Members: every clustered interaction once; the largest clusters are dominated by one intent (purity).
    const members = rowsOf<{ cluster_id: string; n: string }>(
      await stack().db.execute(sql`select cluster_id, count(*) as n from cluster_members where run_id = ${first.runId} group by cluster_id`),
    );
    expect(members.reduce((a, m) => a + Number(m.n), 0)).toBe(Math.round(first.clusteredShare * first.interactions));
    const purityRows = rowsOf<{ cluster_id: string; top: string; total: string }>(
      await stack().db.execute(sql`
        with m as (select cm.cluster_id, i.query_text from cluster_members cm join interactions i on i.id = cm.interaction_id where cm.run_id = ${first.runId})
        select cluster_id, max(cnt) as top, sum(cnt) as total from (
          select cluster_id, query_text, count(*) as cnt from m group by cluster_id, query_text) x group by cluster_id`),
    );
    expect(purityRows.length).toBe(first.clusters);
  });

  it('a second run over the same traffic keeps every id and records no identity events', async () => {
    const again = await cluster();
    const ids = async (runId: string) =>
      (await stack().db.select({ id: clusterSnapshots.clusterId }).from(clusterSnapshots).where(eq(clusterSnapshots.runId, runId))).map((r) => r.id).sort();
    expect(await ids(again.runId)).toEqual(await ids(first.runId));
    expect(await stack().db.select().from(clusterEvents).where(eq(clusterEvents.runId, again.runId))).toEqual([]);
  });

  it('a new intent adds clusters without renaming the others', async () => {
    const extra = examples.filter((e) => e.label === newIntent);
    await ingest('imports/cluster-it/extra.jsonl', extra, 100_000);
    const before = (await stack().db.select({ id: clusterSnapshots.clusterId }).from(clusterSnapshots).where(eq(clusterSnapshots.runId, first.runId))).map(
      (r) => r.id,
    );
    const next = await cluster();
    const after = (await stack().db.select({ id: clusterSnapshots.clusterId }).from(clusterSnapshots).where(eq(clusterSnapshots.runId, next.runId))).map(
      (r) => r.id,
    );
    for (const id of before) expect(after).toContain(id);
    expect(next.events.new).toBeGreaterThanOrEqual(1);
    expect(next.events.merge + next.events.retire).toBe(0);
    // The new intent's interactions sit in the new clusters.
    const fresh = after.filter((id) => !before.includes(id));
    const inFresh = Number(
      rowsOf<{ n: string }>(
        await stack().db.execute(sql`select count(*) as n from cluster_members cm join interactions i on i.id = cm.interaction_id
          where cm.run_id = ${next.runId} and i.idempotency_key like 'cl-1%' and length(i.idempotency_key) >= 9 and cm.cluster_id in (select unnest(${sql.param(fresh)}::text[]))`),
      )[0]!.n,
    );
    expect(inFresh / extra.length).toBeGreaterThan(0.8);
    const statuses = await stack().db.select({ id: clusters.id, status: clusters.status }).from(clusters).where(eq(clusters.tenantId, tenant));
    expect(statuses.filter((c) => before.includes(c.id)).every((c) => c.status === 'active')).toBe(true);
  });
});
