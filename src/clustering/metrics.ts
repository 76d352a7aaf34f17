/**
 * External clustering-quality metrics: how well a clustering of logged queries agrees with labelled intents
 * (banking77, hwu64, bitext). The labels are used only here, to score, never by the pipeline itself.
 *
 * Inputs are parallel arrays, one entry per item:
 * - `predicted[i]`: the cluster of item i, a non-negative integer, or -1 for noise (unclustered; HDBSCAN emits it).
 * - `truth[i]`: the label of item i, a non-negative integer.
 * - `weights[i]` (optional, default 1): the traffic of item i, for items that are distinct queries with counts. A
 *   weight of w scores exactly like w copies of the item, except for a noise item under `noise: 'singletons'`, which
 *   is one singleton cluster holding all w (its copies are the same query, so keeping them together is no clustering
 *   decision). Weights must be finite and >= 0; items of weight 0 are not traffic and are skipped entirely.
 *
 * Ids need not be dense: they are remapped to dense codes in ascending order. Everything is built on one sparse
 * contingency table (CSR, clusters × labels), made in O(n + k + l) with a stable counting sort by cluster; each metric
 * is then O(nnz + k + l) on top of it, so a million items score in tens of milliseconds. Logs are natural.
 *
 * The numbers match scikit-learn (`normalized_mutual_info_score`, `adjusted_rand_score`) on the same labelings, with
 * noise passed through the chosen `noise` treatment first.
 */

/**
 * What noise items (predicted -1) are, for NMI and ARI:
 * - `'singletons'` (default): each noise item is its own cluster. This is the fair treatment when comparing HDBSCAN,
 *   which emits noise, with algorithms that assign every item (k-means, agglomerative): a noise point is scored
 *   exactly like a cluster of one, which is what it is for serving (nothing else is grouped with it), so it earns no
 *   credit for pairs it did not put together. `'ignore'` would let an algorithm look perfect by declaring every hard
 *   item noise, and `'one-cluster'` (what sklearn does if -1 is passed as a label) glues unrelated items into one
 *   big fake cluster that no consumer ever sees.
 * - `'ignore'`: noise items are dropped before scoring (scores only what was clustered; report the noise share too).
 * - `'one-cluster'`: all noise items form one extra cluster.
 */
export type NoiseMode = 'singletons' | 'ignore' | 'one-cluster';

/** How NMI normalises mutual information by the two entropies (sklearn's `average_method`). */
export type NmiAverage = 'arithmetic' | 'geometric' | 'min' | 'max';

/** Noise for purity: `'impure'` (default) counts noise items as wrongly clustered; `'ignore'` drops them. */
export type PurityNoiseMode = 'impure' | 'ignore';

/** Sparse contingency table of clusters (rows) × labels (columns), plus the noise items kept aside. */
export interface Contingency {
  /** Original cluster id of each row, ascending. Noise (-1) is never a row. */
  readonly clusterIds: readonly number[];
  /** Original label id of each column, ascending (labels seen on noise items included). */
  readonly labelIds: readonly number[];
  /** CSR row pointers (length k + 1): row r's cells are at [rowPtr[r], rowPtr[r + 1]). */
  readonly rowPtr: Int32Array;
  /** Column (label code) of each non-zero cell, ascending within a row. */
  readonly colIdx: Int32Array;
  /** Weight of each non-zero cell. */
  readonly values: Float64Array;
  /** Total weight of each cluster. */
  readonly clusterWeights: Float64Array;
  /** Number of items (not weight) in each cluster. */
  readonly clusterItems: Int32Array;
  /** Weight of each label over clustered (non-noise) items. */
  readonly labelWeights: Float64Array;
  /** Weight of each label over noise items. */
  readonly noiseLabelWeights: Float64Array;
  /** Weight and label code of each noise item, in input order. */
  readonly noiseWeights: Float64Array;
  readonly noiseLabels: Int32Array;
  /** Total weight of noise items. */
  readonly noiseWeight: number;
  /** Total weight of all items, noise included. */
  readonly totalWeight: number;
  /** Number of items with positive weight, noise included. */
  readonly items: number;
}

export interface NmiOptions {
  weights?: ArrayLike<number>;
  average?: NmiAverage;
  noise?: NoiseMode;
}

export interface AriOptions {
  weights?: ArrayLike<number>;
  noise?: NoiseMode;
}

export interface PurityOptions {
  weights?: ArrayLike<number>;
  noise?: PurityNoiseMode;
}

export interface ClusterPurity {
  /** Original cluster id. */
  cluster: number;
  /** Traffic (weight) of the cluster. */
  weight: number;
  /** Number of items in the cluster. */
  items: number;
  /** The cluster's majority label (the smallest label id on ties). */
  label: number;
  /** Weight share of the cluster's items that carry the majority label. */
  purity: number;
}

export interface PurityResult {
  /** Weight share of all items (noise included unless ignored) whose cluster's majority label is their label. */
  purity: number;
  /** Per cluster, in ascending cluster id order. */
  clusters: ClusterPurity[];
}

export interface CurvePoint {
  /** Number of clusters in the prefix (the k largest by weight). */
  clusters: number;
  /** Share of ALL traffic (noise included) held by those k clusters. */
  coverage: number;
  /** Weighted purity of those k clusters together. */
  purity: number;
  /** Id of the k-th cluster, the one this point adds. */
  cluster: number;
  /** Purity of the k-th cluster alone. */
  clusterPurity: number;
}

export interface PurityAtCoverage {
  /** The coverage asked for. */
  target: number;
  /** Whether the clusters reach the target at all (noise can keep them from it). */
  reached: boolean;
  /** Clusters in the smallest prefix reaching the target (all clusters when not reached). */
  clusters: number;
  /** Coverage of that prefix. */
  coverage: number;
  /** Weighted purity of that prefix (0 when there are no clusters). */
  purity: number;
}

export interface ScoreOptions {
  weights?: ArrayLike<number>;
  /** NMI/ARI noise treatment (default 'singletons'); purity ignores noise only when this is 'ignore'. */
  noise?: NoiseMode;
  average?: NmiAverage;
  /** Coverage target for `atCoverage` (default 0.6). */
  coverage?: number;
}

export interface ClusteringScore {
  /** Items with positive weight, noise included, and their total weight (traffic). */
  items: number;
  totalWeight: number;
  /** Number of clusters (noise excluded) and of distinct labels. */
  clusters: number;
  labels: number;
  noise: { items: number; weight: number; share: number };
  nmi: number;
  ari: number;
  purity: number;
  clusterPurity: ClusterPurity[];
  curve: CurvePoint[];
  atCoverage: PurityAtCoverage;
  options: { noise: NoiseMode; average: NmiAverage; purityNoise: PurityNoiseMode; coverage: number };
}

const NOISE = -1;
const SKIP = -2;
/** Ids up to this bound (and not much beyond n) are remapped with a lookup table rather than a Map. */
const TABLE_LIMIT = 1 << 24;

/** n choose 2 in Float64 (exact for integers up to ~9.4e7; weights may be non-integer). */
function comb2(x: number): number {
  return (x * (x - 1)) / 2;
}

function checkedWeights(weights: ArrayLike<number> | undefined, n: number): Float64Array {
  const w = new Float64Array(n);
  if (weights === undefined) return w.fill(1);
  if (weights.length !== n) throw new RangeError(`weights has length ${weights.length}, expected ${n}`);
  for (let i = 0; i < n; i++) {
    const x = weights[i]!;
    if (!(x >= 0) || x === Infinity) throw new RangeError(`weights[${i}] must be finite and >= 0, got ${x}`);
    w[i] = x;
  }
  return w;
}

/** Dense codes (ascending id order) for the items of positive weight; NOISE for -1 where allowed, SKIP for weight 0. */
function encode(values: ArrayLike<number>, w: Float64Array, name: string, allowNoise: boolean): { codes: Int32Array; ids: number[] } {
  const n = w.length;
  const codes = new Int32Array(n);
  let max = -1;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (w[i] === 0) continue;
    if (v === NOISE && allowNoise) continue;
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${name}[${i}] must be a non-negative integer${allowNoise ? ' or -1 (noise)' : ''}, got ${v}`);
    }
    if (v > max) max = v;
  }
  const ids: number[] = [];
  if (max < TABLE_LIMIT && max <= 4 * n + 65536) {
    const table = new Int32Array(max + 1);
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (w[i] !== 0 && v !== NOISE) table[v] = 1;
    }
    for (let v = 0; v <= max; v++) if (table[v] !== 0) table[v] = ids.push(v); // code + 1
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      codes[i] = w[i] === 0 ? SKIP : v === NOISE ? NOISE : table[v]! - 1;
    }
  } else {
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (w[i] !== 0 && v !== NOISE) map.set(v, 0);
    }
    ids.push(...[...map.keys()].sort((a, b) => a - b));
    ids.forEach((v, code) => map.set(v, code));
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      codes[i] = w[i] === 0 ? SKIP : v === NOISE ? NOISE : map.get(v)!;
    }
  }
  return { codes, ids };
}

/** The sparse clusters × labels contingency table of two labelings, in O(n + k + l). */
export function contingency(predicted: ArrayLike<number>, truth: ArrayLike<number>, weights?: ArrayLike<number>): Contingency {
  const n = predicted.length;
  if (truth.length !== n) throw new RangeError(`predicted has length ${n} but truth has length ${truth.length}`);
  const w = checkedWeights(weights, n);
  const pred = encode(predicted, w, 'predicted', true);
  const lab = encode(truth, w, 'truth', false);
  const k = pred.ids.length;
  const l = lab.ids.length;
  const pc = pred.codes;
  const tc = lab.codes;

  // Stable counting sort of the clustered items by cluster; noise and label totals on the way.
  const rowPtr = new Int32Array(k + 1);
  const labelWeights = new Float64Array(l);
  const noiseLabelWeights = new Float64Array(l);
  let noiseItems = 0;
  let clustered = 0;
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    const r = pc[i]!;
    if (r === SKIP) continue;
    totalWeight += w[i]!;
    if (r === NOISE) {
      noiseItems++;
      noiseLabelWeights[tc[i]!]! += w[i]!;
    } else {
      clustered++;
      rowPtr[r + 1]!++;
      labelWeights[tc[i]!]! += w[i]!;
    }
  }
  for (let r = 0; r < k; r++) rowPtr[r + 1]! += rowPtr[r]!;
  const clusterItems = new Int32Array(k);
  for (let r = 0; r < k; r++) clusterItems[r] = rowPtr[r + 1]! - rowPtr[r]!;
  const order = new Int32Array(clustered);
  const next = rowPtr.slice(0, k);
  const noiseWeights = new Float64Array(noiseItems);
  const noiseLabels = new Int32Array(noiseItems);
  let noiseWeight = 0;
  for (let i = 0, j = 0; i < n; i++) {
    const r = pc[i]!;
    if (r === SKIP) continue;
    if (r === NOISE) {
      noiseWeights[j] = w[i]!;
      noiseLabels[j++] = tc[i]!;
      noiseWeight += w[i]!;
    } else {
      order[next[r]!++] = i;
    }
  }

  // One row at a time: accumulate the row's labels in a dense scratch, then emit its non-zero cells sorted.
  const scratch = new Float64Array(l);
  const touched = new Int32Array(l);
  const colIdx = new Int32Array(clustered);
  const values = new Float64Array(clustered);
  const clusterWeights = new Float64Array(k);
  let nnz = 0;
  for (let r = 0; r < k; r++) {
    const start = rowPtr[r]!;
    const end = rowPtr[r + 1]!;
    let t = 0;
    for (let p = start; p < end; p++) {
      const i = order[p]!;
      const c = tc[i]!;
      if (scratch[c] === 0) touched[t++] = c;
      scratch[c]! += w[i]!;
    }
    const cols = touched.subarray(0, t).sort();
    rowPtr[r] = nnz;
    let sum = 0;
    for (let q = 0; q < t; q++) {
      const c = cols[q]!;
      colIdx[nnz] = c;
      values[nnz++] = scratch[c]!;
      sum += scratch[c]!;
      scratch[c] = 0;
    }
    clusterWeights[r] = sum;
  }
  rowPtr[k] = nnz;

  return {
    clusterIds: pred.ids,
    labelIds: lab.ids,
    rowPtr,
    colIdx: colIdx.slice(0, nnz),
    values: values.slice(0, nnz),
    clusterWeights,
    clusterItems,
    labelWeights,
    noiseLabelWeights,
    noiseWeights,
    noiseLabels,
    noiseWeight,
    totalWeight,
    items: clustered + noiseItems,
  };
}

/** Sufficient statistics of the partition pair after the noise treatment, for NMI and ARI. */
interface PairStats {
  /** Total weight scored. */
  total: number;
  /** Non-empty clusters and labels. */
  clusters: number;
  labels: number;
  /** Mutual information and the two entropies (natural log). */
  mi: number;
  hPred: number;
  hTrue: number;
  /** Σ C(n_ij, 2), Σ C(a_i, 2), Σ C(b_j, 2). */
  pairsBoth: number;
  pairsPred: number;
  pairsTrue: number;
}

function pairStats(ct: Contingency, noise: NoiseMode): PairStats {
  const l = ct.labelIds.length;
  const k = ct.clusterIds.length;
  const withNoise = noise !== 'ignore';
  const b = withNoise ? ct.labelWeights.map((x, j) => x + ct.noiseLabelWeights[j]!) : ct.labelWeights;
  const total = withNoise ? ct.totalWeight : ct.totalWeight - ct.noiseWeight;
  const stats: PairStats = { total, clusters: 0, labels: 0, mi: 0, hPred: 0, hTrue: 0, pairsBoth: 0, pairsPred: 0, pairsTrue: 0 };
  if (!(total > 0)) return stats;
  const logN = Math.log(total);
  const logB = new Float64Array(l);
  for (let j = 0; j < l; j++) {
    const bj = b[j]!;
    if (bj <= 0) continue;
    stats.labels++;
    logB[j] = Math.log(bj);
    stats.hTrue -= bj * (logB[j]! - logN);
    stats.pairsTrue += comb2(bj);
  }

  // Σ n_ij (log n_ij − log a_i − log b_j) over a row, and the row's entropy/pair terms.
  let mi = 0;
  let hPred = 0;
  const row = (a: number, cellSum: number, pairs: number) => {
    const logA = Math.log(a);
    mi += cellSum - a * logA;
    hPred -= a * (logA - logN);
    stats.pairsPred += comb2(a);
    stats.pairsBoth += pairs;
    stats.clusters++;
  };
  for (let r = 0; r < k; r++) {
    const a = ct.clusterWeights[r]!;
    let cellSum = 0;
    let pairs = 0;
    for (let p = ct.rowPtr[r]!; p < ct.rowPtr[r + 1]!; p++) {
      const v = ct.values[p]!;
      const j = ct.colIdx[p]!;
      cellSum += v * (Math.log(v) - logB[j]!);
      pairs += comb2(v);
    }
    row(a, cellSum, pairs);
  }
  if (noise === 'singletons') {
    for (let q = 0; q < ct.noiseWeights.length; q++) {
      const v = ct.noiseWeights[q]!;
      row(v, v * (Math.log(v) - logB[ct.noiseLabels[q]!]!), comb2(v));
    }
  } else if (noise === 'one-cluster' && ct.noiseWeight > 0) {
    let cellSum = 0;
    let pairs = 0;
    for (let j = 0; j < l; j++) {
      const v = ct.noiseLabelWeights[j]!;
      if (v <= 0) continue;
      cellSum += v * (Math.log(v) - logB[j]!);
      pairs += comb2(v);
    }
    row(ct.noiseWeight, cellSum, pairs);
  }
  // Each cell term is n_ij·log(N n_ij / (a_i b_j)); the log N parts sum to N·log N.
  stats.mi = (mi + total * logN) / total;
  stats.hPred = hPred / total;
  stats.hTrue = stats.hTrue / total;
  return stats;
}

function checkNoise(noise: NoiseMode): NoiseMode {
  if (noise !== 'singletons' && noise !== 'ignore' && noise !== 'one-cluster') throw new RangeError(`unknown noise mode ${String(noise)}`);
  return noise;
}

function nmiFromStats(s: PairStats, average: NmiAverage): number {
  if (average !== 'arithmetic' && average !== 'geometric' && average !== 'min' && average !== 'max') {
    throw new RangeError(`unknown NMI average ${String(average)}`);
  }
  // sklearn: both labelings unsplit (or empty) is a perfect match; otherwise zero MI is no information.
  if (s.clusters === s.labels && s.clusters <= 1) return 1;
  const mi = s.mi;
  if (!(mi > 1e-15)) return 0;
  let norm: number;
  switch (average) {
    case 'arithmetic':
      norm = (s.hPred + s.hTrue) / 2;
      break;
    case 'geometric':
      norm = Math.sqrt(s.hPred * s.hTrue);
      break;
    case 'min':
      norm = Math.min(s.hPred, s.hTrue);
      break;
    case 'max':
      norm = Math.max(s.hPred, s.hTrue);
      break;
  }
  return Math.min(1, mi / norm);
}

function ariFromStats(s: PairStats): number {
  const pairs = comb2(s.total);
  // No pairs (fewer than two items): nothing can disagree.
  if (!(pairs > 0)) return 1;
  const expected = (s.pairsPred * s.pairsTrue) / pairs;
  const max = (s.pairsPred + s.pairsTrue) / 2;
  const den = max - expected;
  // max == expected only when both are one cluster or both all singletons, i.e. perfect agreement (sklearn: 1.0);
  // the tolerance absorbs rounding of the pair counts, which true non-zero gaps (>= ~1/N of the pairs) dwarf.
  if (Math.abs(den) <= 1e-12 * pairs) return 1;
  return Math.min(1, (s.pairsBoth - expected) / den);
}

/** Normalised mutual information (sklearn's `normalized_mutual_info_score`), natural logs. */
export function nmi(predicted: ArrayLike<number>, truth: ArrayLike<number>, opts: NmiOptions = {}): number {
  return nmiFromContingency(contingency(predicted, truth, opts.weights), opts);
}

export function nmiFromContingency(ct: Contingency, opts: Omit<NmiOptions, 'weights'> = {}): number {
  return nmiFromStats(pairStats(ct, checkNoise(opts.noise ?? 'singletons')), opts.average ?? 'arithmetic');
}

/** Hubert–Arabie adjusted Rand index (sklearn's `adjusted_rand_score`); weights act as pair counts. */
export function ari(predicted: ArrayLike<number>, truth: ArrayLike<number>, opts: AriOptions = {}): number {
  return ariFromContingency(contingency(predicted, truth, opts.weights), opts);
}

export function ariFromContingency(ct: Contingency, opts: Omit<AriOptions, 'weights'> = {}): number {
  return ariFromStats(pairStats(ct, checkNoise(opts.noise ?? 'singletons')));
}

/** Majority label code and its weight for each cluster row (smallest label on ties). */
function majorities(ct: Contingency): { label: Int32Array; weight: Float64Array } {
  const k = ct.clusterIds.length;
  const label = new Int32Array(k);
  const weight = new Float64Array(k);
  for (let r = 0; r < k; r++) {
    let best = -1;
    let bestW = -1;
    // Columns ascend within a row, so a strict > keeps the smallest label on ties.
    for (let p = ct.rowPtr[r]!; p < ct.rowPtr[r + 1]!; p++) {
      if (ct.values[p]! > bestW) {
        bestW = ct.values[p]!;
        best = ct.colIdx[p]!;
      }
    }
    label[r] = best;
    weight[r] = bestW;
  }
  return { label, weight };
}

/** Weighted purity overall and per cluster. Noise items count as impure unless `noise: 'ignore'`. */
export function purity(predicted: ArrayLike<number>, truth: ArrayLike<number>, opts: PurityOptions = {}): PurityResult {
  return purityFromContingency(contingency(predicted, truth, opts.weights), opts);
}

export function purityFromContingency(ct: Contingency, opts: Omit<PurityOptions, 'weights'> = {}): PurityResult {
  const noise = opts.noise ?? 'impure';
  if (noise !== 'impure' && noise !== 'ignore') throw new RangeError(`unknown purity noise mode ${String(noise)}`);
  const maj = majorities(ct);
  const clusters: ClusterPurity[] = [];
  let pure = 0;
  for (let r = 0; r < ct.clusterIds.length; r++) {
    pure += maj.weight[r]!;
    clusters.push({
      cluster: ct.clusterIds[r]!,
      weight: ct.clusterWeights[r]!,
      items: ct.clusterItems[r]!,
      label: ct.labelIds[maj.label[r]!]!,
      purity: maj.weight[r]! / ct.clusterWeights[r]!,
    });
  }
  const total = noise === 'ignore' ? ct.totalWeight - ct.noiseWeight : ct.totalWeight;
  return { purity: total > 0 ? Math.min(1, pure / total) : 0, clusters };
}

/**
 * Clusters by weight, largest first (ties: smaller cluster id first); point k is the top-k prefix: its share of ALL
 * traffic (noise included) and its weighted purity. Coverage is non-decreasing and ends at 1 − noise share.
 */
export function coveragePurityCurve(predicted: ArrayLike<number>, truth: ArrayLike<number>, weights?: ArrayLike<number>): CurvePoint[] {
  return curveFromContingency(contingency(predicted, truth, weights));
}

export function curveFromContingency(ct: Contingency): CurvePoint[] {
  const k = ct.clusterIds.length;
  const maj = majorities(ct);
  const cw = ct.clusterWeights;
  const order = Int32Array.from({ length: k }, (_, r) => r).sort((x, y) => cw[y]! - cw[x]! || x - y);
  const curve: CurvePoint[] = new Array(k);
  let covered = 0;
  let pure = 0;
  for (let q = 0; q < k; q++) {
    const r = order[q]!;
    covered += cw[r]!;
    pure += maj.weight[r]!;
    curve[q] = {
      clusters: q + 1,
      coverage: Math.min(1, covered / ct.totalWeight),
      purity: Math.min(1, pure / covered),
      cluster: ct.clusterIds[r]!,
      clusterPurity: maj.weight[r]! / cw[r]!,
    };
  }
  return curve;
}

/**
 * Purity of the smallest top-k prefix of `curve` whose coverage reaches `coverage` (default 0.6): "purity over the
 * clusters that hold the top 60% of traffic". When the clusters never reach it (too much noise), `reached` is false
 * and the figures are those of all clusters.
 */
export function purityAtCoverage(curve: readonly CurvePoint[], coverage = 0.6): PurityAtCoverage {
  if (!(coverage > 0 && coverage <= 1)) throw new RangeError(`coverage must be in (0, 1], got ${coverage}`);
  // Shares are ratios of float sums: accept a prefix a rounding error short of the target.
  const goal = coverage - 1e-12;
  let lo = 0;
  let hi = curve.length; // first index whose coverage >= goal, by binary search (coverage is non-decreasing)
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (curve[mid]!.coverage >= goal) hi = mid;
    else lo = mid + 1;
  }
  const reached = lo < curve.length;
  const point = curve[reached ? lo : curve.length - 1];
  if (point === undefined) return { target: coverage, reached: false, clusters: 0, coverage: 0, purity: 0 };
  return { target: coverage, reached, clusters: point.clusters, coverage: point.coverage, purity: point.purity };
}

/** Everything above in one object, for reports, from one contingency table. */
export function scoreClustering(predicted: ArrayLike<number>, truth: ArrayLike<number>, opts: ScoreOptions = {}): ClusteringScore {
  const noise = checkNoise(opts.noise ?? 'singletons');
  const average = opts.average ?? 'arithmetic';
  const coverage = opts.coverage ?? 0.6;
  const purityNoise: PurityNoiseMode = noise === 'ignore' ? 'ignore' : 'impure';
  const ct = contingency(predicted, truth, opts.weights);
  const stats = pairStats(ct, noise);
  const pur = purityFromContingency(ct, { noise: purityNoise });
  const curve = curveFromContingency(ct);
  return {
    items: ct.items,
    totalWeight: ct.totalWeight,
    clusters: ct.clusterIds.length,
    labels: ct.labelIds.length,
    noise: {
      items: ct.noiseWeights.length,
      weight: ct.noiseWeight,
      share: ct.totalWeight > 0 ? ct.noiseWeight / ct.totalWeight : 0,
    },
    nmi: nmiFromStats(stats, average),
    ari: ariFromStats(stats),
    purity: pur.purity,
    clusterPurity: pur.clusters,
    curve,
    atCoverage: purityAtCoverage(curve, coverage),
    options: { noise, average, purityNoise, coverage },
  };
}
