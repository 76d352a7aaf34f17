import { and, desc, eq, gt, gte, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { clusterEvents, clusters, clusterSnapshots, interactions } from '../db/schema';
import { fromBytes, toBytes } from '../embeddings/cache';
import { acceptedInteractionSql } from '../interactions/store';
import { type ClusterRunStats, finishRun } from '../runs/store';
import type { ClusterEventKind } from '../vocabulary';

/** The clustering domain's tables: clusters (identities), their per-run snapshots, members and identity events. */

export type ClusterRow = typeof clusters.$inferSelect;
export type SnapshotRow = typeof clusterSnapshots.$inferSelect;
export type ClusterEventRow = typeof clusterEvents.$inferSelect;

/**
 * One page of a tenant's interactions for a period ([from, to), ISO times), ids above `after` in id order: keyset
 * paging, so reading a million rows never holds them all or re-scans skipped ones.
 */
export async function pageQueries(
  db: Db,
  q: { tenantId: string; from?: string; to?: string; acceptedOnly?: boolean; after: number; limit: number },
): Promise<Array<{ id: number; q: string }>> {
  const conds = [eq(interactions.tenantId, q.tenantId), gt(interactions.id, q.after)];
  if (q.from) conds.push(gte(interactions.occurredAt, new Date(q.from)));
  if (q.to) conds.push(lt(interactions.occurredAt, new Date(q.to)));
  if (q.acceptedOnly) conds.push(acceptedInteractionSql(sql`${interactions.id}`));
  return db
    .select({ id: interactions.id, q: interactions.queryText })
    .from(interactions)
    .where(and(...conds))
    .orderBy(interactions.id)
    .limit(q.limit);
}

/** The tenant's earlier identities (active or retired) in one embedding space: what a new run's clusters match. */
export async function priorIdentities(
  db: Db,
  tenantId: string,
  model: string,
): Promise<Array<{ id: string; status: 'active' | 'retired'; centroid: Float32Array }>> {
  const rows = await db
    .select({ id: clusters.id, status: clusters.status, centroid: clusters.centroid })
    .from(clusters)
    .where(and(eq(clusters.tenantId, tenantId), eq(clusters.embeddingModel, model), inArray(clusters.status, ['active', 'retired'])));
  return rows.map((p) => ({ id: p.id, status: p.status as 'active' | 'retired', centroid: fromBytes(p.centroid) }));
}

export interface ClusterRunRecord {
  runId: string;
  tenantId: string;
  model: string;
  /** One entry per cluster of the run, with its stable id. */
  clusters: Array<{
    id: string;
    label: string;
    keywords: string[];
    centroid: Float32Array;
    size: number;
    distinctQueries: number;
    share: number;
    cohesion: number;
    representatives: Array<{ text: string; count: number }>;
  }>;
  /** Earlier identities this run merged, split or retired. */
  changes: Array<{ id: string; status: ClusterRow['status']; successorIds: string[] }>;
  events: Array<{ kind: ClusterEventKind; fromIds: string[]; toIds: string[] }>;
  /** Which cluster each clustered interaction fell into. */
  members: Array<{ interactionId: number; clusterId: string }>;
  stats: ClusterRunStats;
}

/**
 * Records a clustering run in one transaction: identities (upserted: a kept id takes the new label and centroid),
 * snapshots, identity changes and events, members, and the run itself completed with its figures. Either all of a
 * run is recorded or none of it, so a retry after a crash starts clean.
 */
export async function recordClusterRun(db: Db, r: ClusterRunRecord): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    for (const c of r.clusters) {
      const centroid = toBytes(c.centroid);
      await t
        .insert(clusters)
        .values({
          id: c.id,
          tenantId: r.tenantId,
          status: 'active',
          label: c.label,
          keywords: c.keywords,
          embeddingModel: r.model,
          centroid,
          firstRunId: r.runId,
          lastRunId: r.runId,
        })
        .onConflictDoUpdate({
          target: clusters.id,
          set: { status: 'active', label: c.label, keywords: c.keywords, centroid, lastRunId: r.runId, successorIds: [], updatedAt: sql`now()` },
        });
      await t.insert(clusterSnapshots).values({
        runId: r.runId,
        clusterId: c.id,
        size: c.size,
        distinctQueries: c.distinctQueries,
        share: c.share,
        cohesion: c.cohesion,
        label: c.label,
        keywords: c.keywords,
        representatives: c.representatives,
        centroid,
      });
    }
    for (const ch of r.changes) {
      await t
        .update(clusters)
        .set({ status: ch.status, successorIds: ch.successorIds, updatedAt: sql`now()` })
        .where(eq(clusters.id, ch.id));
    }
    if (r.events.length) await t.insert(clusterEvents).values(r.events.map((e) => ({ runId: r.runId, ...e })));
    // Members travel as one JSON document per 10k rows: one statement each instead of one parameter per value.
    for (let i = 0; i < r.members.length; i += 10_000) {
      const part = r.members.slice(i, i + 10_000).map((m) => ({ i: m.interactionId, c: m.clusterId }));
      await t.execute(sql`insert into cluster_members (run_id, interaction_id, cluster_id)
        select ${r.runId}, i, c from jsonb_to_recordset(${JSON.stringify(part)}::jsonb) as x(i bigint, c text)`);
    }
    await finishRun(t, r.runId, 'cluster', r.stats);
  });
}

/** A run's snapshots, largest share of traffic first (all of them, or the first `limit`). */
export async function runSnapshots(db: Db, runId: string, limit?: number): Promise<SnapshotRow[]> {
  const q = db.select().from(clusterSnapshots).where(eq(clusterSnapshots.runId, runId)).orderBy(desc(clusterSnapshots.share));
  return limit === undefined ? q : q.limit(limit);
}

/** Label and first representative queries of some of a run's clusters (what a reviewer reads of each), in `clusterIds` order. */
export async function snapshotSummaries(
  db: Db,
  runId: string,
  clusterIds: string[],
  examples = 3,
): Promise<Array<{ clusterId: string; label: string; share: number; examples: string[] }>> {
  if (!clusterIds.length) return [];
  const rows = await db
    .select({ clusterId: clusterSnapshots.clusterId, label: clusterSnapshots.label, share: clusterSnapshots.share, reps: clusterSnapshots.representatives })
    .from(clusterSnapshots)
    .where(and(eq(clusterSnapshots.runId, runId), inArray(clusterSnapshots.clusterId, clusterIds)));
  const byId = new Map(rows.map((r) => [r.clusterId, r]));
  return clusterIds.flatMap((id) => {
    const r = byId.get(id);
    return r ? [{ clusterId: id, label: r.label, share: r.share, examples: r.reps.slice(0, examples).map((x) => x.text) }] : [];
  });
}

export async function getCluster(db: Db, id: string): Promise<ClusterRow | undefined> {
  const [c] = await db.select().from(clusters).where(eq(clusters.id, id));
  return c;
}

/** The tenant's cluster (any status), or undefined: routes are cluster ids. */
export async function tenantCluster(db: Db, tenantId: string, id: string): Promise<ClusterRow | undefined> {
  const [c] = await db
    .select()
    .from(clusters)
    .where(and(eq(clusters.id, id), eq(clusters.tenantId, tenantId)));
  return c;
}

/** A cluster as one run saw it (default: its latest run). */
export async function clusterSnapshot(db: Db, clusterId: string, runId?: string): Promise<SnapshotRow | undefined> {
  const [snap] = await db
    .select()
    .from(clusterSnapshots)
    .where(runId ? and(eq(clusterSnapshots.clusterId, clusterId), eq(clusterSnapshots.runId, runId)) : eq(clusterSnapshots.clusterId, clusterId))
    .orderBy(desc(clusterSnapshots.runId))
    .limit(1);
  return snap;
}

/** Identity events that name a cluster, on either side. */
export async function clusterEventsOf(db: Db, clusterId: string): Promise<ClusterEventRow[]> {
  return db
    .select()
    .from(clusterEvents)
    .where(sql`${clusterEvents.fromIds} ? ${clusterId} or ${clusterEvents.toIds} ? ${clusterId}`);
}

export async function runEvents(db: Db, runId: string): Promise<ClusterEventRow[]> {
  return db.select().from(clusterEvents).where(eq(clusterEvents.runId, runId));
}
