/**
 * Nearest-centroid routing over L2-normalised vectors, the rule the router applies: the cluster whose centroid is
 * most similar, if at least the threshold. Linear scans: graduation looks at hundreds of clusters, not millions.
 */
export function nearestCentroid(v: ArrayLike<number>, centroids: Float32Array, dims: number): { index: number; similarity: number } {
  let index = -1;
  let similarity = -Infinity;
  for (let c = 0; c * dims < centroids.length; c++) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += v[j]! * centroids[c * dims + j]!;
    if (s > similarity) {
      similarity = s;
      index = c;
    }
  }
  return { index, similarity };
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
    out.push(sims.sort((x, y) => y[1] - x[1]).slice(0, k).map(([b]) => b));
  }
  return out;
}
