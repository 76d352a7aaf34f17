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
 * What graduation reads from one clustering run, as plain data (structured-clonable, so it can be moved to a
 * worker thread; runGraduationData turns it into the closures graduation uses): each snapshot, each accepted
 * interaction with its cluster, and the vectors of those queries and of the run's centroids.
 */
export interface RunGraduationInput {
  snaps: Array<{ clusterId: string; share: number; label: string }>;
  /** Accepted interactions of the run in id order (an edited answer replaces the teacher's), and their clusters. */
  examples: Example[];
  exampleClusters: string[];
  dims: number;
  /** examples.length × dims query vectors and snaps.length × dims centroids. */
  vectors: Float32Array;
  centroids: Float32Array;
  /** Similarity from which the router sends a query to a cluster. */
  threshold: number;
}

/**
 * What graduation needs from one clustering run: each cluster's accepted interactions (an edited answer replaces
 * the teacher's), and for the false-positive check the vectors of those queries (from the embedding cache the
 * clustering filled) and the run's centroids.
 */
export async function loadRunGraduationData(db: Db, embedder: Embedder, tenantId: string, clusterRunId: string, threshold = 0.7): Promise<RunGraduationData> {
  return runGraduationData(await loadRunGraduationInput(db, embedder, tenantId, clusterRunId, threshold));
}

/** The I/O half of loadRunGraduationData: reads the run and embeds (cache first) its accepted queries. */
export async function loadRunGraduationInput(db: Db, embedder: Embedder, tenantId: string, clusterRunId: string, threshold = 0.7): Promise<RunGraduationInput> {
  const run = await getRun(db, clusterRunId);
  if (!run || run.kind !== 'cluster' || run.tenantId !== tenantId)
    throw new InputError('clusterRunId', `no clustering run "${clusterRunId}" for tenant ${tenantId}: see \`distillery runs --kind cluster\``);
  if (run.status !== 'completed') throw new InputError('clusterRunId', `clustering run ${clusterRunId} is ${run.status}; graduate a completed run`);
  const snaps = await runSnapshots(db, clusterRunId);
  const list = await acceptedRunMembers(db, clusterRunId);
  const normalized = list.map((r) => normalizeQuery(r.query_text));
  const examples = list.map((r, i): Example => ({
    id: Number(r.id),
    query: r.query_text,
    slots: namedSlots(normalized[i]!.slots),
    answer: r.answer,
    ...(r.edited_from ? { editedFrom: r.edited_from } : {}),
  }));
  const dims = embedder.dims;
  const centroids = new Float32Array(snaps.length * dims);
  snaps.forEach((s, i) => centroids.set(fromBytes(s.centroid), i * dims));
  const vectors = new Float32Array(list.length * dims);
  if (list.length)
    (
      await embedWithCache(
        db,
        embedder,
        normalized.map((n) => n.text),
      )
    ).forEach((v, i) => vectors.set(v, i * dims));
  return {
    snaps: snaps.map((s) => ({ clusterId: s.clusterId, share: s.share, label: s.label })),
    examples,
    exampleClusters: list.map((r) => r.cluster_id),
    dims,
    vectors,
    centroids,
    threshold,
  };
}

/** The CPU half of loadRunGraduationData (pure): routes every query to its nearest centroid, finds neighbours. */
export function runGraduationData(input: RunGraduationInput): RunGraduationData {
  const { snaps, examples, exampleClusters, dims, vectors, centroids, threshold } = input;
  const byCluster = new Map<string, Example[]>(snaps.map((s) => [s.clusterId, []]));
  examples.forEach((e, i) => byCluster.get(exampleClusters[i]!)?.push(e));
  const index = new Map(snaps.map((s, i) => [s.clusterId, i]));
  const nearest = centroidRouter(centroids, dims);
  const route = examples.map((_, i) => nearest(vectors.subarray(i * dims, (i + 1) * dims)));
  const around = neighbourhood(centroids, dims, 5);
  const rowsOfCluster = new Map<number, number[]>();
  exampleClusters.forEach((id, i) => {
    const c = index.get(id)!;
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
