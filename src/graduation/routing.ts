import { NearestIndex } from '../serving/nearest';

/**
 * Nearest-centroid routing over L2-normalised vectors, the rule the router applies (and the router's own index, so
 * replay and serving agree): the cluster whose centroid is most similar. Build once, call per query.
 */
export function centroidRouter(centroids: Float32Array, dims: number): (v: ArrayLike<number>) => { index: number; similarity: number } {
  const n = centroids.length / dims;
  if (n === 0) return () => ({ index: -1, similarity: -Infinity });
  const index = NearestIndex.build(centroids, n, dims);
  return (v) => index.nearest(v) ?? { index: -1, similarity: -Infinity };
}

/** One query against a set of centroids (for a single lookup; use centroidRouter for many). */
export function nearestCentroid(v: ArrayLike<number>, centroids: Float32Array, dims: number): { index: number; similarity: number } {
  return centroidRouter(centroids, dims)(v);
}

/** For each centroid, the indices of its `k` most similar other centroids (its neighbouring clusters). */
export function neighbourhood(centroids: Float32Array, dims: number, k: number): number[][] {
  const n = centroids.length / dims;
  const out: number[][] = [];
  for (let a = 0; a < n; a++) {
    const sims: Array<[number, number]> = [];
    for (let b = 0; b < n; b++) {
      if (a === b) continue;
      let s = 0;
      for (let j = 0; j < dims; j++) s += centroids[a * dims + j]! * centroids[b * dims + j]!;
      sims.push([b, s]);
    }
    out.push(
      sims
        .sort((x, y) => y[1] - x[1])
        .slice(0, k)
        .map(([b]) => b),
    );
  }
  return out;
}
