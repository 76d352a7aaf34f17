import { and, eq, sql } from 'drizzle-orm';
import { normalizeQuery } from '../serving/normalize';
import { type Db, rowsOf } from '../db/client';
import { clusterSnapshots, runs } from '../db/schema';
import { embedWithCache, fromBytes } from '../embeddings/cache';
import type { Embedder } from '../embeddings/types';
import { InputError } from '../errors';
import type { Example } from './induce';
import type { ClusterExamples } from './propose';
import { centroidRouter, neighbourhood } from './routing';
import { namedSlots } from '../serving/slots';

export interface RunGraduationData {
  clusters: Array<ClusterExamples & { share: number; label: string }>;
  /** Neighbour queries of a set of clusters, flagged with whether the router would send them to one of them. */
  neighbours: (clusterIds: string[]) => Array<Example & { routedHere: boolean }>;
}

/**
 * What graduation needs from one clustering run: each cluster's accepted interactions (an edited answer replaces
 * the teacher's), and for the false-positive check the vectors of those queries (from the embedding cache the
 * clustering filled) and the run's centroids.
 */
export async function loadRunGraduationData(db: Db, embedder: Embedder, tenantId: string, clusterRunId: string, threshold = 0.7): Promise<RunGraduationData> {
  const [run] = await db.select().from(runs).where(and(eq(runs.id, clusterRunId), eq(runs.kind, 'cluster')));
  if (!run || run.tenantId !== tenantId) throw new InputError('clusterRunId', `no clustering run "${clusterRunId}" for tenant ${tenantId}: see \`distillery runs --kind cluster\``);
  if (run.status !== 'completed') throw new InputError('clusterRunId', `clustering run ${clusterRunId} is ${run.status}; graduate a completed run`);
  const snaps = await db.select().from(clusterSnapshots).where(eq(clusterSnapshots.runId, clusterRunId)).orderBy(sql`${clusterSnapshots.share} desc`);
  const rows = (await db.execute(sql`
    select m.cluster_id, i.id, i.query_text, coalesce(f.corrected_answer, i.answer_text) as answer
    from cluster_members m
    join interactions i on i.id = m.interaction_id
    join lateral (select kind, score, corrected_answer from feedback f where f.interaction_id = i.id order by f.created_at desc, f.id desc limit 1) f on true
    where m.run_id = ${clusterRunId} and (f.kind in ('accepted','edited') or (f.kind = 'score' and f.score >= 0.5))
    order by i.id`));
  const list = rowsOf<{ cluster_id: string; id: number | string; query_text: string; answer: string }>(rows);

  const byCluster = new Map<string, Example[]>(snaps.map((s) => [s.clusterId, []]));
  const normalized = list.map((r) => normalizeQuery(r.query_text));
  const examples = list.map((r, i): Example => ({ id: Number(r.id), query: r.query_text, slots: namedSlots(normalized[i]!.slots), answer: r.answer }));
  list.forEach((r, i) => byCluster.get(r.cluster_id)?.push(examples[i]!));

  const dims = embedder.dims;
  const index = new Map(snaps.map((s, i) => [s.clusterId, i]));
  const centroids = new Float32Array(snaps.length * dims);
  snaps.forEach((s, i) => centroids.set(fromBytes(s.centroid), i * dims));
  const vectors = list.length ? await embedWithCache(db, embedder, normalized.map((n) => n.text)) : [];
  const nearest = centroidRouter(centroids, dims);
  const route = list.map((_, i) => nearest(vectors[i]!));
  const around = neighbourhood(centroids, dims, 5);
  const rowsOfCluster = new Map<number, number[]>();
  list.forEach((r, i) => {
    const c = index.get(r.cluster_id)!;
    const a = rowsOfCluster.get(c) ?? [];
    a.push(i);
    rowsOfCluster.set(c, a);
  });

  return {
    clusters: snaps.map((s) => ({ clusterId: s.clusterId, examples: byCluster.get(s.clusterId)!, share: s.share, label: s.label })),
    neighbours: (ids) => {
      const family = new Set(ids.map((id) => index.get(id)!));
      const near = new Set([...family].flatMap((c) => around[c]!).filter((c) => !family.has(c)));
      return [...near].flatMap((c) =>
        (rowsOfCluster.get(c) ?? []).map((i) => ({ ...examples[i]!, routedHere: family.has(route[i]!.index) && route[i]!.similarity >= threshold })),
      );
    },
  };
}

