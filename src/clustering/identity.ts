import { type BatchMatches, Index, MetricKind, ScalarKind } from 'usearch';

/**
 * Gives a run's clusters their identities, so the tier table and manifest do not churn from month to month.
 *
 * A new cluster inherits the id of the prior cluster whose centroid is most similar (cosine ≥ matchThreshold),
 * one to one, best pairs first. Prior clusters that were retired can be revived the same way: same meaning, same id.
 * The rest is recorded as events:
 *  - split: a prior cluster matched by several new ones; the best match keeps the id, the others get new ids;
 *  - merge: a prior cluster whose best new match went to another prior cluster; it becomes `merged` into that one;
 *  - new: a new cluster that matches nothing;
 *  - retire: an active prior cluster that matches nothing this run.
 * Ids are never reused for a different meaning: new ids come from `newId`, and a merged id is never handed out again.
 */
export interface PriorCluster {
  id: string;
  status: 'active' | 'retired';
  centroid: Float32Array;
}

export interface IdentityEvent {
  kind: 'new' | 'split' | 'merge' | 'retire';
  fromIds: string[];
  toIds: string[];
}

export interface PriorChange {
  id: string;
  status: 'active' | 'merged' | 'retired';
  successorIds: string[];
}

export interface IdentityResult {
  /** Id per new cluster, in the run's cluster order. */
  ids: string[];
  events: IdentityEvent[];
  /** Prior clusters whose status changes (revived, merged, retired). */
  changes: PriorChange[];
}

export const DEFAULT_MATCH_THRESHOLD = 0.85;

const K = 3;

export function assignIdentities(
  prior: PriorCluster[],
  next: { centroids: Float32Array; dims: number },
  newId: (clusterIndex: number) => string,
  matchThreshold = DEFAULT_MATCH_THRESHOLD,
): IdentityResult {
  const { centroids, dims } = next;
  const k = centroids.length / dims;
  const fromNew = nearest(
    prior.map((p) => p.centroid),
    dims,
    centroids,
    matchThreshold,
  );
  const fromPrior = nearest(
    sliceRows(centroids, dims),
    dims,
    concat(
      prior.map((p) => p.centroid),
      dims,
    ),
    matchThreshold,
  );

  // One to one, best pairs first.
  const pairs = fromNew.flatMap((cands, c) => cands.map(({ index: o, sim }) => ({ c, o, sim }))).sort((a, b) => b.sim - a.sim || a.c - b.c || a.o - b.o);
  const priorOf = new Int32Array(k).fill(-1);
  const newOf = new Int32Array(prior.length).fill(-1);
  for (const { c, o } of pairs) {
    if (priorOf[c] !== -1 || newOf[o] !== -1) continue;
    priorOf[c] = o;
    newOf[o] = c;
  }

  const ids = Array.from({ length: k }, (_, c) => (priorOf[c]! >= 0 ? prior[priorOf[c]!]!.id : newId(c)));
  const events: IdentityEvent[] = [];
  const changes: PriorChange[] = [];

  // Splits: unmatched new clusters whose best prior went to another new cluster.
  const splitInto = new Map<number, number[]>();
  for (let c = 0; c < k; c++) {
    if (priorOf[c]! >= 0) continue;
    const best = fromNew[c]![0];
    if (best && newOf[best.index]! >= 0) splitInto.set(best.index, [...(splitInto.get(best.index) ?? []), c]);
    else events.push({ kind: 'new', fromIds: [], toIds: [ids[c]!] });
  }
  for (const [o, extra] of splitInto) events.push({ kind: 'split', fromIds: [prior[o]!.id], toIds: [ids[newOf[o]!]!, ...extra.map((c) => ids[c]!)] });

  // Merges and retirements among prior clusters left without a new cluster.
  const mergedInto = new Map<number, number[]>();
  prior.forEach((p, o) => {
    if (newOf[o]! >= 0) {
      if (p.status === 'retired') changes.push({ id: p.id, status: 'active', successorIds: [] });
      return;
    }
    if (p.status === 'retired') return;
    const best = fromPrior[o]![0];
    if (best && priorOf[best.index]! >= 0) {
      mergedInto.set(best.index, [...(mergedInto.get(best.index) ?? []), o]);
      changes.push({ id: p.id, status: 'merged', successorIds: [ids[best.index]!] });
    } else {
      changes.push({ id: p.id, status: 'retired', successorIds: [] });
      events.push({ kind: 'retire', fromIds: [p.id], toIds: [] });
    }
  });
  for (const [c, from] of mergedInto) events.push({ kind: 'merge', fromIds: [prior[priorOf[c]!]!.id, ...from.map((o) => prior[o]!.id)], toIds: [ids[c]!] });
  return { ids, events, changes };
}

/** For each query row, up to K rows of `base` with cosine ≥ threshold, best first. */
function nearest(base: Float32Array[], dims: number, queries: Float32Array, threshold: number): Array<Array<{ index: number; sim: number }>> {
  const q = queries.length / dims;
  const out: Array<Array<{ index: number; sim: number }>> = Array.from({ length: q }, () => []);
  if (base.length === 0 || q === 0) return out;
  const index = new Index({
    dimensions: dims,
    metric: MetricKind.Cos,
    quantization: ScalarKind.F32,
    connectivity: 16,
    expansion_add: 128,
    expansion_search: 128,
    multi: false,
  });
  index.add(new BigUint64Array(base.map((_, i) => BigInt(i))), concat(base, dims));
  const k = Math.min(K, base.length);
  for (let r = 0; r < q; r++) {
    const res = index.search(queries.subarray(r * dims, (r + 1) * dims), k, 1) as unknown as BatchMatches;
    for (let j = 0; j < res.keys.length && j < k; j++) {
      const sim = 1 - res.distances[j]!;
      if (sim >= threshold) out[r]!.push({ index: Number(res.keys[j]), sim });
    }
  }
  return out;
}

function concat(rows: Float32Array[], dims: number): Float32Array {
  const out = new Float32Array(rows.length * dims);
  rows.forEach((r, i) => out.set(r, i * dims));
  return out;
}

function sliceRows(m: Float32Array, dims: number): Float32Array[] {
  return Array.from({ length: m.length / dims }, (_, i) => m.subarray(i * dims, (i + 1) * dims));
}
