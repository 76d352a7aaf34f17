import { normalizeQuery } from '../serving/normalize';
import { runSnapshots } from '../clustering/store';
import type { Db } from '../db/client';
import { embedWithCache, fromBytes } from '../embeddings/cache';
import type { Embedder } from '../embeddings/types';
import { InputError } from '../errors';
import { getRun } from '../runs/store';
import type { Example } from './induce';
import type { ClusterExamples } from './propose';
import { centroidRouter, neighbourhood } from './routing';
import { namedSlots } from '../serving/slots';
import { acceptedRunMembers } from './store';

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
  const run = await getRun(db, clusterRunId);
  if (!run || run.kind !== 'cluster' || run.tenantId !== tenantId) throw new InputError('clusterRunId', `no clustering run "${clusterRunId}" for tenant ${tenantId}: see \`distillery runs --kind cluster\``);
  if (run.status !== 'completed') throw new InputError('clusterRunId', `clustering run ${clusterRunId} is ${run.status}; graduate a completed run`);
  const snaps = await runSnapshots(db, clusterRunId);
  const list = await acceptedRunMembers(db, clusterRunId);

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

