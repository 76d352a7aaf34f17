import os from 'node:os';
import { type BatchMatches, Index, MetricKind, ScalarKind } from 'usearch';
import { graphCommunities } from './graph';

/**
 * Clusters distinct (already normalised and deduplicated) queries by their embeddings, weighted by how often each
 * came. Designed for millions of queries on 2 cores: no pairwise matrix, only nearest-seed searches in an HNSW
 * index whose size is the number of clusters.
 *
 *  1. Leader pass, most frequent queries first: a query joins the nearest running centroid if cosine ≥ `threshold`,
 *     else it starts a cluster. Batched: one multi-threaded ANN search per batch, plus an exact check against the
 *     clusters started inside the batch; moved centroids are refreshed in the index after each batch.
 *  2. Refinement (`refineIterations` times): clusters lighter than `minClusterWeight` are dropped, clusters whose
 *     centroids are at least `mergeThreshold` similar merge, and every query is reassigned to its nearest centroid,
 *     its own cluster judged without its own contribution (leave-one-out), so a heavy query cannot hold a cluster
 *     of its own apart from its group.
 *  3. Queries whose nearest centroid is below `threshold`, and clusters lighter than `minClusterWeight`, become
 *     noise (-1): they stay with the frontier model.
 */
export interface ClusterParams {
  /**
   * `leader` (default): leader pass over running centroids + refinement; proven at 1M queries in the memory budget.
   * `graph`: kNN graph + Louvain communities (src/clustering/graph.ts): better NMI on the labelled sets, more memory.
   */
  algorithm: 'leader' | 'graph';
  /** graph: neighbours per query, least cosine of an edge, Louvain resolution (higher: more, smaller clusters). */
  graphNeighbours: number;
  graphEdgeThreshold: number;
  graphResolution: number;
  /** Cosine a query needs to its cluster's seed/centroid (leader). */
  threshold: number;
  /** Centroids at least this similar are one cluster. */
  mergeThreshold: number;
  /** Total traffic (sum of weights) a cluster needs to exist. */
  minClusterWeight: number;
  refineIterations: number;
  /** Threads for index inserts and searches (default 1: reproducible runs). */
  threads: number;
}

export const DEFAULT_CLUSTER_PARAMS: ClusterParams = {
  algorithm: 'leader',
  graphNeighbours: 10,
  graphEdgeThreshold: 0.5,
  graphResolution: 5,
  threshold: 0.7,
  mergeThreshold: 0.92,
  minClusterWeight: 3,
  refineIterations: 2,
  // One thread by default: multi-threaded HNSW inserts build a different graph each time, and a borderline group
  // can then split differently from run to run, which shows up as identity churn. Large runs may trade that for
  // speed by asking for more threads (the benchmarks do, and say so).
  threads: 1,
};

/** All cores, for callers that prefer speed to run-to-run reproducibility. */
export const ALL_THREADS = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);

export interface ClusterInput {
  /** n × dims, row-major, L2-normalised. */
  vectors: Float32Array;
  dims: number;
  /** Traffic per distinct query (its number of occurrences). */
  weights: ArrayLike<number>;
}

export interface ClusterResult {
  /** Cluster index per query, -1 for noise. Clusters are numbered by descending weight. */
  assignment: Int32Array;
  /** k × dims, L2-normalised weighted means. */
  centroids: Float32Array;
  /** Per cluster: total weight, distinct queries, weighted mean cosine of members to the centroid. */
  weight: Float64Array;
  distinct: Int32Array;
  cohesion: Float64Array;
  /** Per query: cosine to its cluster's centroid (or to the nearest centroid, for noise). */
  similarity: Float32Array;
}

const BATCH = 2048;

export function clusterQueries(input: ClusterInput, params: Partial<ClusterParams> = {}): ClusterResult {
  const p = { ...DEFAULT_CLUSTER_PARAMS, ...params };
  const { vectors, dims, weights } = input;
  const n = weights.length;
  if (vectors.length !== n * dims) throw new Error(`vectors has ${vectors.length} floats; expected ${n} × ${dims}`);
  if (n === 0) return empty();
  if (p.algorithm === 'graph') {
    const index = newIndex(dims);
    index.add(
      BigUint64Array.from({ length: n }, (_, i) => BigInt(i)),
      vectors,
      p.threads,
    );
    const communities = graphCommunities(
      index,
      vectors,
      dims,
      n,
      { neighbours: p.graphNeighbours, edgeThreshold: p.graphEdgeThreshold, resolution: p.graphResolution, threads: p.threads, seed: 42 },
      searchMany,
    );
    return finish(vectors, dims, weights, communities, new Float32Array(n), p);
  }

  let assignment = leaderPass(vectors, dims, weights, p);
  let similarity: Float32Array = new Float32Array(n);
  for (let it = 0; it < Math.max(1, p.refineIterations); it++) {
    assignment = mergeClose(vectors, dims, weights, dropLight(assignment, weights, p.minClusterWeight), p);
    ({ assignment, similarity } = reassign(vectors, dims, weights, assignment, p));
  }
  return finish(vectors, dims, weights, dropLight(assignment, weights, p.minClusterWeight), similarity, p);
}

function empty(): ClusterResult {
  return {
    assignment: new Int32Array(0),
    centroids: new Float32Array(0),
    weight: new Float64Array(0),
    distinct: new Int32Array(0),
    cohesion: new Float64Array(0),
    similarity: new Float32Array(0),
  };
}

export function dot(a: Float32Array, ai: number, b: Float32Array, bi: number, dims: number): number {
  let s = 0;
  for (let j = 0; j < dims; j++) s += a[ai + j]! * b[bi + j]!;
  return s;
}

function newIndex(dims: number): Index {
  return new Index({
    dimensions: dims,
    metric: MetricKind.Cos,
    connectivity: 16,
    expansion_add: 128,
    expansion_search: 64,
    quantization: ScalarKind.F32,
    multi: false,
  });
}

/** A batch search (usearch's typings pick the single-vector overload for any Float32Array). */
function searchMany(index: Index, queries: Float32Array, k: number, threads: number): BatchMatches {
  const res = index.search(queries, k, threads) as unknown as BatchMatches;
  // A batch of exactly one vector comes back in the single-query shape: no counts, keys not padded to k.
  if (!res.counts) {
    const keys = new BigUint64Array(k);
    const distances = new Float32Array(k);
    keys.set(res.keys.subarray(0, k));
    distances.set(res.distances.subarray(0, k));
    return { keys, distances, counts: new BigUint64Array([BigInt(Math.min(k, res.keys.length))]), k } as unknown as BatchMatches;
  }
  return res;
}

/**
 * Pass 1: each query (most frequent first) joins the nearest running centroid at ≥ threshold, or starts a cluster.
 * Centroids are running weighted means, refreshed in the index after every batch: comparing a paraphrase with the
 * centre of its group, not with whichever paraphrase came first, is what keeps one intent from splitting in many.
 */
function leaderPass(vectors: Float32Array, dims: number, weights: ArrayLike<number>, p: ClusterParams): Int32Array {
  const n = weights.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => weights[b]! - weights[a]! || a - b);
  const assignment = new Int32Array(n).fill(-1);
  let sums = new Float64Array(1024 * dims);
  let k = 0;
  const index = newIndex(dims);
  const batchVectors = new Float32Array(BATCH * dims);
  const centroid = new Float32Array(dims);
  const normalised = (c: number, out: Float32Array, at: number) => {
    let norm = 0;
    for (let j = 0; j < dims; j++) norm += sums[c * dims + j]! ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dims; j++) out[at + j] = sums[c * dims + j]! / norm;
  };
  for (let start = 0; start < n; start += BATCH) {
    const batch = order.slice(start, start + BATCH);
    batch.forEach((q, i) => batchVectors.set(vectors.subarray(q * dims, (q + 1) * dims), i * dims));
    const found = index.size() > 0 ? searchMany(index, batchVectors.subarray(0, batch.length * dims), 1, p.threads) : undefined;
    const touched = new Set<number>();
    const created: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const q = batch[i]!;
      let best = -1;
      let bestSim = -Infinity;
      if (found && Number(found.counts[i]) > 0) {
        bestSim = 1 - found.distances[i]!;
        best = Number(found.keys[i]);
      }
      // Clusters created in this batch are not in the index yet: compare with their running centroids directly.
      for (const c of created) {
        normalised(c, centroid, 0);
        const sim = dot(vectors, q * dims, centroid, 0, dims);
        if (sim > bestSim) {
          bestSim = sim;
          best = c;
        }
      }
      if (!(best >= 0 && bestSim >= p.threshold)) {
        best = k++;
        if (k * dims > sums.length) {
          const grown = new Float64Array(sums.length * 2);
          grown.set(sums);
          sums = grown;
        }
        created.push(best);
      }
      assignment[q] = best;
      const w = weights[q]!;
      for (let j = 0; j < dims; j++) sums[best * dims + j]! += w * vectors[q * dims + j]!;
      touched.add(best);
    }
    // Refresh the moved centroids and add the new ones.
    const keys = [...touched];
    const stale = keys.filter((c) => !created.includes(c));
    if (stale.length) index.remove(new BigUint64Array(stale.map((c) => BigInt(c))));
    const mat = new Float32Array(keys.length * dims);
    keys.forEach((c, i) => normalised(c, mat, i * dims));
    index.add(new BigUint64Array(keys.map((c) => BigInt(c))), mat, p.threads);
  }
  return assignment;
}

/**
 * The assignment without clusters lighter than minWeight. Before a reassignment this matters: a small cluster's own
 * members are always nearest to its centroid, so unless it is dropped first it can never dissolve into its group.
 */
function dropLight(assignment: Int32Array, weights: ArrayLike<number>, minWeight: number): Int32Array {
  let k = 0;
  for (const a of assignment) if (a + 1 > k) k = a + 1;
  const w = new Float64Array(k);
  for (let q = 0; q < assignment.length; q++) if (assignment[q]! >= 0) w[assignment[q]!]! += weights[q]!;
  return assignment.map((a) => (a >= 0 && w[a]! >= minWeight ? a : -1));
}

/** Per-cluster weighted sums of member vectors (k × dims, Float64) for clusters 0..k-1 of `assignment`. */
function clusterSums(vectors: Float32Array, dims: number, weights: ArrayLike<number>, assignment: Int32Array): { sums: Float64Array; k: number } {
  let k = 0;
  for (const a of assignment) if (a + 1 > k) k = a + 1;
  const sums = new Float64Array(k * dims);
  for (let q = 0; q < assignment.length; q++) {
    const c = assignment[q]!;
    if (c < 0) continue;
    const w = weights[q]!;
    for (let j = 0; j < dims; j++) sums[c * dims + j]! += w * vectors[q * dims + j]!;
  }
  return { sums, k };
}

/** Unit-length rows of `sums`, and which rows are non-empty (only those go into an index). */
function normalise(sums: Float64Array, k: number, dims: number): { centroids: Float32Array; live: number[]; norms: Float64Array } {
  const centroids = new Float32Array(k * dims);
  const norms = new Float64Array(k);
  const live: number[] = [];
  for (let c = 0; c < k; c++) {
    let norm = 0;
    for (let j = 0; j < dims; j++) norm += sums[c * dims + j]! ** 2;
    norm = Math.sqrt(norm);
    norms[c] = norm;
    if (norm === 0) continue;
    live.push(c);
    for (let j = 0; j < dims; j++) centroids[c * dims + j] = sums[c * dims + j]! / norm;
  }
  return { centroids, live, norms };
}

function indexOf(centroids: Float32Array, live: number[], dims: number, threads: number): Index {
  const index = newIndex(dims);
  const mat = new Float32Array(live.length * dims);
  live.forEach((c, i) => mat.set(centroids.subarray(c * dims, (c + 1) * dims), i * dims));
  if (live.length) index.add(new BigUint64Array(live.map((c) => BigInt(c))), mat, threads);
  return index;
}

/** Clusters whose centroids are at least mergeThreshold similar become one (union-find over nearest centroids). */
function mergeClose(vectors: Float32Array, dims: number, weights: ArrayLike<number>, assignment: Int32Array, p: ClusterParams): Int32Array {
  const { sums, k } = clusterSums(vectors, dims, weights, assignment);
  const { centroids, live } = normalise(sums, k, dims);
  if (live.length < 2) return assignment;
  const index = indexOf(centroids, live, dims, p.threads);
  const mat = new Float32Array(live.length * dims);
  live.forEach((c, i) => mat.set(centroids.subarray(c * dims, (c + 1) * dims), i * dims));
  const res = searchMany(index, mat, 2, p.threads);
  const parent = Int32Array.from({ length: k }, (_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x]!)));
  live.forEach((c, i) => {
    for (let j = 0; j < Number(res.counts[i]); j++) {
      const other = Number(res.keys[i * 2 + j]);
      if (other !== c && 1 - res.distances[i * 2 + j]! >= p.mergeThreshold) parent[find(c)] = find(other);
    }
  });
  return assignment.map((a) => (a >= 0 ? find(a) : -1));
}

/**
 * Every query to its nearest centroid at ≥ threshold, else noise. A query's own cluster is judged without the
 * query's own contribution (leave-one-out): otherwise a heavy query that seeded a cluster of its own would always be
 * nearest to itself and never rejoin its group.
 */
function reassign(
  vectors: Float32Array,
  dims: number,
  weights: ArrayLike<number>,
  assignment: Int32Array,
  p: ClusterParams,
): { assignment: Int32Array; similarity: Float32Array } {
  const n = assignment.length;
  const { sums, k } = clusterSums(vectors, dims, weights, assignment);
  const { centroids, live, norms } = normalise(sums, k, dims);
  const out = new Int32Array(n).fill(-1);
  const similarity = new Float32Array(n);
  if (live.length === 0) return { assignment: out, similarity };
  const index = indexOf(centroids, live, dims, p.threads);
  const K = Math.min(3, live.length);
  for (let start = 0; start < n; start += 16 * BATCH) {
    const end = Math.min(n, start + 16 * BATCH);
    const res = searchMany(index, vectors.subarray(start * dims, end * dims), K, p.threads);
    for (let i = 0; i < end - start; i++) {
      const q = start + i;
      const own = assignment[q]!;
      let best = -1;
      let bestSim = -Infinity;
      for (let j = 0; j < Number(res.counts[i]); j++) {
        const c = Number(res.keys[i * K + j]);
        let sim = 1 - res.distances[i * K + j]!;
        if (c === own) {
          // cos(v, sum - w·v) = (v·sum - w) / |sum - w·v|, with |sum - w·v|² = |sum|² - 2w(v·sum) + w².
          const w = weights[q]!;
          const vs = sim * norms[c]!;
          const rest = Math.sqrt(Math.max(0, norms[c]! ** 2 - 2 * w * vs + w * w));
          sim = rest > 1e-9 ? (vs - w) / rest : -Infinity;
        }
        if (sim > bestSim) {
          bestSim = sim;
          best = c;
        }
      }
      similarity[q] = bestSim === -Infinity ? 0 : bestSim;
      if (best >= 0 && bestSim >= p.threshold) out[q] = best;
    }
  }
  return { assignment: out, similarity };
}

/** Drops light clusters to noise, renumbers by descending weight, and computes the per-cluster figures. */
function finish(
  vectors: Float32Array,
  dims: number,
  weights: ArrayLike<number>,
  assignment: Int32Array,
  similarity: Float32Array,
  p: ClusterParams,
): ClusterResult {
  const n = assignment.length;
  let k = 0;
  for (const a of assignment) if (a + 1 > k) k = a + 1;
  const w = new Float64Array(k);
  for (let q = 0; q < n; q++) if (assignment[q]! >= 0) w[assignment[q]!]! += weights[q]!;
  const kept = Array.from({ length: k }, (_, c) => c)
    .filter((c) => w[c]! >= p.minClusterWeight)
    .sort((a, b) => w[b]! - w[a]! || a - b);
  const renumber = new Int32Array(k).fill(-1);
  kept.forEach((c, i) => (renumber[c] = i));
  const out = new Int32Array(n);
  for (let q = 0; q < n; q++) out[q] = assignment[q]! >= 0 ? renumber[assignment[q]!]! : -1;
  // Every kept cluster has members, so clusters 0..kept.length-1 are exactly the rows of the sums.
  const { sums } = clusterSums(vectors, dims, weights, out);
  const { centroids } = normalise(sums, kept.length, dims);
  const weight = new Float64Array(kept.length);
  const distinct = new Int32Array(kept.length);
  const cohesionSum = new Float64Array(kept.length);
  const sim = new Float32Array(n);
  for (let q = 0; q < n; q++) {
    const c = out[q]!;
    if (c < 0) {
      sim[q] = similarity[q]!;
      continue;
    }
    const s = dot(vectors, q * dims, centroids, c * dims, dims);
    sim[q] = s;
    weight[c]! += weights[q]!;
    distinct[c]!++;
    cohesionSum[c]! += weights[q]! * s;
  }
  const cohesion = Float64Array.from(cohesionSum, (s, c) => s / weight[c]!);
  return { assignment: out, centroids, weight, distinct, cohesion, similarity: sim };
}
