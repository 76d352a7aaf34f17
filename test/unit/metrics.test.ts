import { describe, expect, it } from 'vitest';
import {
  type Contingency,
  type CurvePoint,
  type NmiAverage,
  ari,
  contingency,
  coveragePurityCurve,
  nmi,
  purity,
  purityAtCoverage,
  scoreClustering,
} from '../../src/clustering/metrics';

/** Deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomLabels(n: number, k: number, rand: () => number): number[] {
  return Array.from({ length: n }, () => Math.floor(rand() * k));
}

/** Dense k × l table of a contingency, for readable assertions. */
function dense(ct: Contingency): number[][] {
  const rows = ct.clusterIds.map(() => ct.labelIds.map(() => 0));
  for (let r = 0; r < ct.clusterIds.length; r++) {
    for (let p = ct.rowPtr[r]!; p < ct.rowPtr[r + 1]!; p++) rows[r]![ct.colIdx[p]!] = ct.values[p]!;
  }
  return rows;
}

/** Items repeated by their (integer) weights. */
function expand(pred: number[], truth: number[], weights: number[]): { pred: number[]; truth: number[] } {
  const p: number[] = [];
  const t: number[] = [];
  weights.forEach((w, i) => {
    for (let c = 0; c < w; c++) {
      p.push(pred[i]!);
      t.push(truth[i]!);
    }
  });
  return { pred: p, truth: t };
}

/** Naive references straight from the definitions: O(n²) pair counting and dense entropies. */
function naiveAri(a: number[], b: number[]): number {
  const n = a.length;
  let both = 0;
  let inA = 0;
  let inB = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const sa = a[i] === a[j];
      const sb = b[i] === b[j];
      if (sa) inA++;
      if (sb) inB++;
      if (sa && sb) both++;
    }
  }
  const pairs = (n * (n - 1)) / 2;
  const expected = (inA * inB) / pairs;
  return (both - expected) / ((inA + inB) / 2 - expected);
}

function naiveNmi(a: number[], b: number[]): number {
  const n = a.length;
  const count = (xs: string[]) => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const h = (m: Map<string, number>) => [...m.values()].reduce((s, c) => s - (c / n) * Math.log(c / n), 0);
  const ha = h(count(a.map(String)));
  const hb = h(count(b.map(String)));
  const hab = h(count(a.map((x, i) => `${x},${b[i]}`)));
  return (ha + hb - hab) / ((ha + hb) / 2); // MI = H(A) + H(B) − H(A,B)
}

// scikit-learn's documented example: labels_true=[0,0,0,1,1,1], labels_pred=[0,0,1,1,2,2].
// Cells 2,1,1,2 over marginals (3,3) × (2,2,2): MI = (2/3)·ln 2, H(true) = ln 2, H(pred) = ln 3.
const DOC_TRUE = [0, 0, 0, 1, 1, 1];
const DOC_PRED = [0, 0, 1, 1, 2, 2];

describe('contingency', () => {
  it('counts clusters × labels sparsely, with ids remapped in ascending order', () => {
    const ct = contingency([5, 5, 2, 2, 2, 9], [1, 0, 1, 1, 7, 7]);
    expect(ct.clusterIds).toEqual([2, 5, 9]);
    expect(ct.labelIds).toEqual([0, 1, 7]);
    expect(dense(ct)).toEqual([
      [0, 2, 1],
      [1, 1, 0],
      [0, 0, 1],
    ]);
    expect([...ct.clusterWeights]).toEqual([3, 2, 1]);
    expect([...ct.clusterItems]).toEqual([3, 2, 1]);
    expect([...ct.labelWeights]).toEqual([1, 3, 2]);
    expect(ct.totalWeight).toBe(6);
    expect(ct.items).toBe(6);
    expect(ct.noiseWeight).toBe(0);
  });

  it('keeps noise aside, sums weights and skips weight-0 items', () => {
    const ct = contingency([0, -1, 0, -1, 3], [2, 2, 4, 4, 9], [2, 3, 0.5, 1, 0]);
    expect(ct.clusterIds).toEqual([0]); // cluster 3 only had a weight-0 item
    expect(ct.labelIds).toEqual([2, 4]);
    expect(dense(ct)).toEqual([[2, 0.5]]);
    expect([...ct.noiseWeights]).toEqual([3, 1]);
    expect([...ct.noiseLabels]).toEqual([0, 1]);
    expect([...ct.noiseLabelWeights]).toEqual([3, 1]);
    expect(ct.noiseWeight).toBe(4);
    expect(ct.totalWeight).toBe(6.5);
    expect(ct.items).toBe(4);
  });

  it('handles huge sparse ids (map path) like small dense ones', () => {
    const a = contingency([1e12, 7, 1e12, -1], [3e9, 0, 0, 3e9]);
    const b = contingency([1, 0, 1, -1], [1, 0, 0, 1]);
    expect(a.clusterIds).toEqual([7, 1e12]);
    expect(a.labelIds).toEqual([0, 3e9]);
    expect(dense(a)).toEqual(dense(b));
  });

  it('handles empty input', () => {
    const ct = contingency([], []);
    expect(ct.clusterIds).toEqual([]);
    expect(ct.totalWeight).toBe(0);
    expect(nmi([], [])).toBe(1);
    expect(ari([], [])).toBe(1);
    expect(purity([], []).purity).toBe(0);
    expect(coveragePurityCurve([], [])).toEqual([]);
  });

  it('rejects bad input', () => {
    expect(() => contingency([0, 1], [0])).toThrow(RangeError);
    expect(() => contingency([0, -2], [0, 0])).toThrow(/predicted\[1\]/);
    expect(() => contingency([0, 1.5], [0, 0])).toThrow(/predicted\[1\]/);
    expect(() => contingency([0, 1], [0, -1])).toThrow(/truth\[1\]/);
    expect(() => contingency([0, 1], [0, Number.NaN])).toThrow(/truth\[1\]/);
    expect(() => contingency([0, 1], [0, 1], [1])).toThrow(/weights/);
    expect(() => contingency([0, 1], [0, 1], [1, -1])).toThrow(/weights\[1\]/);
    expect(() => contingency([0, 1], [0, 1], [1, Infinity])).toThrow(/weights\[1\]/);
    expect(() => nmi([0], [0], { average: 'median' as NmiAverage })).toThrow(/average/);
    expect(() => ari([0], [0], { noise: 'drop' as 'ignore' })).toThrow(/noise/);
  });
});

describe('nmi and ari: known values (sklearn)', () => {
  it('matches the sklearn documentation example', () => {
    expect(ari(DOC_PRED, DOC_TRUE)).toBeCloseTo(8 / 33, 14); // 0.24242424…
    expect(nmi(DOC_PRED, DOC_TRUE)).toBeCloseTo(((4 / 3) * Math.log(2)) / Math.log(6), 14); // 0.5158037429793888
    expect(nmi(DOC_PRED, DOC_TRUE)).toBeCloseTo(0.5158037429793888, 14);
    expect(nmi(DOC_PRED, DOC_TRUE, { average: 'geometric' })).toBeCloseTo(((2 / 3) * Math.log(2)) / Math.sqrt(Math.log(2) * Math.log(3)), 14);
    expect(nmi(DOC_PRED, DOC_TRUE, { average: 'min' })).toBeCloseTo(2 / 3, 14);
    expect(nmi(DOC_PRED, DOC_TRUE, { average: 'max' })).toBeCloseTo(((2 / 3) * Math.log(2)) / Math.log(3), 14);
  });

  it('matches a larger example (values from the sklearn formulas in Python)', () => {
    const truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2];
    const pred = [0, 0, 1, 1, 1, 2, 2, 2, 0, 3];
    expect(ari(pred, truth)).toBeCloseTo(2 / 27, 14); // 0.07407407407407407
    expect(nmi(pred, truth)).toBeCloseTo(0.42954169878661963, 14);
    expect(nmi(pred, truth, { average: 'geometric' })).toBeCloseTo(0.43143639901033637, 14);
    expect(nmi(pred, truth, { average: 'min' })).toBeCloseTo(0.47390691116168704, 14);
    expect(nmi(pred, truth, { average: 'max' })).toBeCloseTo(0.3927720022793675, 14);
  });

  it('gives 1 for identical partitions, whatever the ids', () => {
    expect(ari([0, 0, 1, 1], [1, 1, 0, 0])).toBe(1);
    expect(nmi([0, 0, 1, 1], [1, 1, 0, 0])).toBeCloseTo(1, 15);
    const truth = randomLabels(5000, 40, rng(1));
    const pred = truth.map((x) => 1000 - 7 * x);
    expect(ari(pred, truth)).toBeCloseTo(1, 14);
    expect(nmi(pred, truth)).toBeCloseTo(1, 14);
    for (const average of ['geometric', 'min', 'max'] as const) expect(nmi(pred, truth, { average })).toBeCloseTo(1, 14);
  });

  it('handles the degenerate partitions like sklearn', () => {
    // Both unsplit: perfect match.
    expect(nmi([3, 3, 3], [0, 0, 0])).toBe(1);
    expect(ari([3, 3, 3], [0, 0, 0])).toBe(1);
    // One split, the other not: no information, chance-level agreement.
    expect(nmi([0, 0, 1, 1], [0, 0, 0, 0])).toBe(0);
    expect(ari([0, 0, 1, 1], [0, 0, 0, 0])).toBe(0);
    expect(nmi([0, 0, 0, 0], [0, 0, 1, 1])).toBe(0);
    // Both all singletons: every pair agrees (sklearn returns 1 for both).
    expect(ari([0, 1, 2, 3], [4, 5, 6, 7])).toBe(1);
    expect(nmi([0, 1, 2, 3], [4, 5, 6, 7])).toBeCloseTo(1, 15);
    // Anti-correlated: ARI goes negative, NMI is 0.
    expect(ari([0, 1, 0, 1], [0, 0, 1, 1])).toBeCloseTo(-0.5, 15);
    expect(nmi([0, 1, 0, 1], [0, 0, 1, 1])).toBe(0);
    // One item.
    expect(ari([0], [0])).toBe(1);
    expect(nmi([0], [0])).toBe(1);
  });

  it('agrees with naive pair counting and entropies on random inputs', () => {
    const rand = rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 20 + Math.floor(rand() * 80);
      const pred = randomLabels(n, 1 + Math.floor(rand() * 8), rand);
      const truth = pred.map((c) => (rand() < 0.7 ? c % 4 : Math.floor(rand() * 5)));
      if (new Set(pred).size < 2 || new Set(truth).size < 2) continue;
      expect(ari(pred, truth)).toBeCloseTo(naiveAri(pred, truth), 12);
      expect(nmi(pred, truth)).toBeCloseTo(naiveNmi(pred, truth), 12);
    }
  });

  it('is invariant to renaming labels and clusters and to item order', () => {
    const rand = rng(11);
    const truth = randomLabels(3000, 12, rand);
    const pred = truth.map((t) => (rand() < 0.8 ? t * 2 + (rand() < 0.5 ? 1 : 0) : Math.floor(rand() * 30)));
    const perm = Array.from({ length: 30 }, (_, i) => i).sort(() => rand() - 0.5);
    const pred2 = pred.map((c) => perm[c]! * 13 + 5);
    const truth2 = truth.map((t) => 99 - t);
    const order = Array.from({ length: truth.length }, (_, i) => i).sort(() => rand() - 0.5);
    const pred3 = order.map((i) => pred2[i]!);
    const truth3 = order.map((i) => truth2[i]!);
    for (const [p, t] of [
      [pred2, truth2],
      [pred3, truth3],
    ] as const) {
      expect(ari(p, t)).toBeCloseTo(ari(pred, truth), 13);
      expect(nmi(p, t)).toBeCloseTo(nmi(pred, truth), 13);
      expect(purity(p, t).purity).toBeCloseTo(purity(pred, truth).purity, 13);
    }
  });

  it('is symmetric in its two arguments', () => {
    const rand = rng(3);
    const a = randomLabels(2000, 25, rand);
    const b = a.map((x) => (rand() < 0.6 ? x % 10 : Math.floor(rand() * 10)));
    expect(ari(a, b)).toBeCloseTo(ari(b, a), 14);
    for (const average of ['arithmetic', 'geometric', 'min', 'max'] as const) {
      expect(nmi(a, b, { average })).toBeCloseTo(nmi(b, a, { average }), 14);
    }
  });

  it('scores independent random partitions near 0', () => {
    const rand = rng(42);
    const a = randomLabels(100_000, 50, rand);
    const b = randomLabels(100_000, 20, rand);
    expect(Math.abs(ari(a, b))).toBeLessThan(0.002);
    expect(nmi(a, b)).toBeLessThan(0.01); // MI's small-sample bias, ~(k−1)(l−1)/2N nats, keeps it just above 0
  });
});

describe('weights', () => {
  const rand = rng(5);
  const n = 400;
  const truth = randomLabels(n, 6, rand);
  const pred = truth.map((t) => (rand() < 0.15 ? -1 : rand() < 0.75 ? t : Math.floor(rand() * 9)));
  const weights = Array.from({ length: n }, () => 1 + Math.floor(rand() * 5));
  const dup = expand(pred, truth, weights);

  it('equal duplicating items', () => {
    for (const noise of ['ignore', 'one-cluster'] as const) {
      expect(ari(pred, truth, { weights, noise })).toBeCloseTo(ari(dup.pred, dup.truth, { noise }), 12);
      for (const average of ['arithmetic', 'geometric', 'min', 'max'] as const) {
        expect(nmi(pred, truth, { weights, noise, average })).toBeCloseTo(nmi(dup.pred, dup.truth, { noise, average }), 12);
      }
    }
    for (const noise of ['impure', 'ignore'] as const) {
      const w = purity(pred, truth, { weights, noise });
      const d = purity(dup.pred, dup.truth, { noise });
      expect(w.purity).toBeCloseTo(d.purity, 12);
      expect(w.clusters.map((c) => [c.cluster, c.weight, c.label, c.purity])).toEqual(d.clusters.map((c) => [c.cluster, c.weight, c.label, c.purity]));
    }
    const cw = coveragePurityCurve(pred, truth, weights);
    const cd = coveragePurityCurve(dup.pred, dup.truth);
    expect(cw.length).toBe(cd.length);
    cw.forEach((p, i) => {
      expect(p.coverage).toBeCloseTo(cd[i]!.coverage, 12);
      expect(p.purity).toBeCloseTo(cd[i]!.purity, 12);
    });
  });

  it('keep a weighted noise item as one singleton (its copies share one fresh cluster)', () => {
    // Under 'singletons', noise item i of weight w is one cluster of mass w: like w copies given a cluster of their own.
    const fresh = pred.map((c, i) => (c === -1 ? 1000 + i : c));
    const dupFresh = expand(fresh, truth, weights);
    expect(ari(pred, truth, { weights })).toBeCloseTo(ari(dupFresh.pred, dupFresh.truth), 12);
    expect(nmi(pred, truth, { weights })).toBeCloseTo(nmi(dupFresh.pred, dupFresh.truth), 12);
  });

  it('of 1 change nothing, and weight-0 items are dropped', () => {
    const ones = pred.map(() => 1);
    expect(ari(pred, truth, { weights: ones })).toBe(ari(pred, truth));
    expect(nmi(pred, truth, { weights: ones })).toBe(nmi(pred, truth));
    const zeroed = [...pred, 0, 77, -1];
    const zt = [...truth, 3, 4, 5];
    const zw = [...ones, 0, 0, 0];
    expect(nmi(zeroed, zt, { weights: zw })).toBe(nmi(pred, truth));
    expect(ari(zeroed, zt, { weights: zw })).toBe(ari(pred, truth));
    expect(scoreClustering(zeroed, zt, { weights: zw }).clusters).toBe(scoreClustering(pred, truth).clusters);
  });
});

describe('noise', () => {
  // Two clean clusters of two; four noise items (one from each of labels 0 and 1, two of label 2).
  const truth = [0, 0, 0, 1, 1, 1, 2, 2];
  const pred = [0, 0, -1, 1, 1, -1, -1, -1];

  it('scores noise items as singletons by default', () => {
    const singletons = pred.map((c, i) => (c === -1 ? 100 + i : c));
    expect(ari(pred, truth)).toBeCloseTo(0.375, 14);
    expect(nmi(pred, truth)).toBeCloseTo(0.7688604801805139, 14);
    expect(ari(pred, truth)).toBe(ari(singletons, truth));
    expect(nmi(pred, truth)).toBeCloseTo(nmi(singletons, truth), 14);
    expect(ari(pred, truth, { noise: 'singletons' })).toBe(ari(pred, truth));
  });

  it('can score noise as one cluster (sklearn with -1 as a label)', () => {
    const asLabel = pred.map((c) => (c === -1 ? 9 : c));
    expect(ari(pred, truth, { noise: 'one-cluster' })).toBeCloseTo(2 / 11, 14); // 0.18181818…
    expect(nmi(pred, truth, { noise: 'one-cluster' })).toBeCloseTo(0.5300257549140326, 14);
    expect(nmi(pred, truth, { noise: 'one-cluster' })).toBeCloseTo(nmi(asLabel, truth), 14);
  });

  it('can ignore noise', () => {
    expect(ari(pred, truth, { noise: 'ignore' })).toBe(1);
    expect(nmi(pred, truth, { noise: 'ignore' })).toBeCloseTo(1, 14);
    expect(ari(pred, truth, { noise: 'ignore' })).toBe(ari([0, 0, 1, 1], [0, 0, 1, 1]));
  });

  it('counts noise as impure in purity unless ignored', () => {
    expect(purity(pred, truth).purity).toBe(0.5);
    expect(purity(pred, truth, { noise: 'ignore' }).purity).toBe(1);
  });

  it('handles all-noise input', () => {
    const t = [0, 0, 1, 1];
    const p = [-1, -1, -1, -1];
    expect(ari(p, t)).toBe(0); // all singletons against two pairs: chance level
    expect(nmi(p, t)).toBeCloseTo(Math.log(2) / ((Math.log(2) + Math.log(4)) / 2), 14); // MI = H(truth), H(pred) = ln 4
    expect(ari(p, t, { noise: 'one-cluster' })).toBe(0);
    expect(nmi(p, t, { noise: 'one-cluster' })).toBe(0);
    expect(nmi(p, t, { noise: 'ignore' })).toBe(1); // nothing left: sklearn's empty case
    expect(purity(p, t).purity).toBe(0);
    const s = scoreClustering(p, t);
    expect(s.clusters).toBe(0);
    expect(s.noise).toEqual({ items: 4, weight: 4, share: 1 });
    expect(s.curve).toEqual([]);
    expect(s.atCoverage).toEqual({ target: 0.6, reached: false, clusters: 0, coverage: 0, purity: 0 });
  });
});

describe('purity', () => {
  it('scores each cluster by its majority label and the whole by weight', () => {
    const r = purity([4, 4, 4, 4, 8, 8, 8, -1], [1, 1, 1, 2, 3, 2, 2, 2], { weights: [1, 1, 1, 1, 1, 1, 1, 2] });
    expect(r.clusters).toEqual([
      { cluster: 4, weight: 4, items: 4, label: 1, purity: 0.75 },
      { cluster: 8, weight: 3, items: 3, label: 2, purity: 2 / 3 },
    ]);
    expect(r.purity).toBeCloseTo(5 / 9, 15);
    expect(purity([4, 4, 4, 4, 8, 8, 8, -1], [1, 1, 1, 2, 3, 2, 2, 2], { noise: 'ignore' }).purity).toBeCloseTo(5 / 7, 15);
  });

  it('breaks majority ties toward the smaller label', () => {
    expect(purity([0, 0, 0, 0], [7, 3, 7, 3]).clusters[0]).toMatchObject({ label: 3, purity: 0.5 });
  });
});

describe('coveragePurityCurve', () => {
  // Cluster sizes: 10 → 4 (pure), 20 → 3 (2 of label 1), 30 → 2 (pure), 40 → 1; 2 noise items; total 12.
  const pred = [10, 10, 10, 10, 20, 20, 20, 30, 30, 40, -1, -1];
  const truth = [0, 0, 0, 0, 1, 1, 2, 3, 3, 4, 0, 1];

  it('adds clusters largest first with cumulative coverage and purity', () => {
    const curve = coveragePurityCurve(pred, truth);
    expect(curve.map((p) => [p.clusters, p.cluster])).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
      [4, 40],
    ]);
    expect(curve.map((p) => p.coverage)).toEqual([4 / 12, 7 / 12, 9 / 12, 10 / 12]);
    expect(curve.map((p) => p.purity)).toEqual([1, 6 / 7, 8 / 9, 9 / 10]);
    expect(curve.map((p) => p.clusterPurity)).toEqual([1, 2 / 3, 1, 1]);
  });

  it('orders by weight, not item count, and breaks ties by cluster id', () => {
    const curve = coveragePurityCurve([5, 1, 2, 3, 3], [0, 0, 0, 0, 1], [2, 1, 5, 1, 1]);
    expect(curve.map((p) => p.cluster)).toEqual([2, 3, 5, 1]);
  });

  it('has non-decreasing coverage ending at 1 − noise share', () => {
    const rand = rng(9);
    const n = 20_000;
    const truth = randomLabels(n, 30, rand);
    const p = truth.map((t) => (rand() < 0.2 ? -1 : Math.floor(Math.abs(t * 5 + rand() * 20 - 10))));
    const w = Array.from({ length: n }, () => Math.ceil(-Math.log(rand() + 1e-12) * 3));
    const curve = coveragePurityCurve(p, truth, w);
    for (let i = 1; i < curve.length; i++) {
      expect(curve[i]!.coverage).toBeGreaterThanOrEqual(curve[i - 1]!.coverage);
    }
    const s = scoreClustering(p, truth, { weights: w });
    expect(curve.at(-1)!.coverage).toBeCloseTo(1 - s.noise.share, 12);
    expect(curve.at(-1)!.purity * (1 - s.noise.share)).toBeCloseTo(s.purity, 12);
  });
});

describe('purityAtCoverage', () => {
  const pred = [10, 10, 10, 10, 20, 20, 20, 30, 30, 40, -1, -1];
  const truth = [0, 0, 0, 0, 1, 1, 2, 3, 3, 4, 0, 1];
  const curve = coveragePurityCurve(pred, truth);

  it('takes the smallest prefix whose coverage reaches the target', () => {
    expect(purityAtCoverage(curve)).toEqual({ target: 0.6, reached: true, clusters: 3, coverage: 9 / 12, purity: 8 / 9 });
    expect(purityAtCoverage(curve, 0.5)).toMatchObject({ reached: true, clusters: 2, purity: 6 / 7 });
    expect(purityAtCoverage(curve, 7 / 12)).toMatchObject({ reached: true, clusters: 2 }); // exactly on a point
    expect(purityAtCoverage(curve, 0.1)).toMatchObject({ reached: true, clusters: 1, purity: 1 });
    expect(purityAtCoverage(curve, 10 / 12)).toMatchObject({ reached: true, clusters: 4 });
  });

  it('reports when noise keeps the clusters from the target', () => {
    expect(purityAtCoverage(curve, 0.9)).toEqual({ target: 0.9, reached: false, clusters: 4, coverage: 10 / 12, purity: 0.9 });
    expect(purityAtCoverage([], 0.6)).toEqual({ target: 0.6, reached: false, clusters: 0, coverage: 0, purity: 0 });
  });

  it('forgives a rounding error below the target', () => {
    const pts: CurvePoint[] = [
      { clusters: 1, coverage: 0.3, purity: 1, cluster: 0, clusterPurity: 1 },
      { clusters: 2, coverage: 0.6 - 1e-15, purity: 0.9, cluster: 1, clusterPurity: 0.8 },
      { clusters: 3, coverage: 0.9, purity: 0.8, cluster: 2, clusterPurity: 0.6 },
    ];
    expect(purityAtCoverage(pts)).toMatchObject({ reached: true, clusters: 2, purity: 0.9 });
    expect(purityAtCoverage(pts, 0.61)).toMatchObject({ clusters: 3 });
  });

  it('matches a linear scan on random curves', () => {
    const rand = rng(21);
    const p = randomLabels(5000, 200, rand).map((c) => (c < 20 ? -1 : Math.floor(Math.sqrt(c * c * rand()))));
    const t = randomLabels(5000, 10, rand);
    const c = coveragePurityCurve(p, t);
    for (const target of [0.05, 0.2, 0.6, 0.75, 0.8999]) {
      const idx = c.findIndex((pt) => pt.coverage >= target);
      const got = purityAtCoverage(c, target);
      expect(got.clusters).toBe(idx === -1 ? c.length : idx + 1);
      expect(got.reached).toBe(idx !== -1);
    }
  });

  it('rejects targets outside (0, 1]', () => {
    expect(() => purityAtCoverage(curve, 0)).toThrow(RangeError);
    expect(() => purityAtCoverage(curve, 1.5)).toThrow(RangeError);
    expect(() => purityAtCoverage(curve, Number.NaN)).toThrow(RangeError);
  });
});

describe('scoreClustering', () => {
  it('returns every metric, consistent with the separate functions', () => {
    const truth = [0, 0, 0, 1, 1, 1, 2, 2];
    const pred = [0, 0, -1, 1, 1, -1, -1, 7];
    const weights = [3, 1, 1, 2, 2, 1, 4, 2];
    const s = scoreClustering(pred, truth, { weights });
    expect(s.items).toBe(8);
    expect(s.totalWeight).toBe(16);
    expect(s.clusters).toBe(3);
    expect(s.labels).toBe(3);
    expect(s.noise).toEqual({ items: 3, weight: 6, share: 6 / 16 });
    expect(s.nmi).toBe(nmi(pred, truth, { weights }));
    expect(s.ari).toBe(ari(pred, truth, { weights }));
    expect(s.purity).toBe(purity(pred, truth, { weights }).purity);
    expect(s.purity).toBe(10 / 16);
    expect(s.clusterPurity).toEqual(purity(pred, truth, { weights }).clusters);
    expect(s.curve).toEqual(coveragePurityCurve(pred, truth, weights));
    expect(s.atCoverage).toEqual(purityAtCoverage(s.curve, 0.6));
    expect(s.options).toEqual({ noise: 'singletons', average: 'arithmetic', purityNoise: 'impure', coverage: 0.6 });

    const ig = scoreClustering(pred, truth, { weights, noise: 'ignore', average: 'max', coverage: 0.5 });
    expect(ig.nmi).toBe(nmi(pred, truth, { weights, noise: 'ignore', average: 'max' }));
    expect(ig.ari).toBe(ari(pred, truth, { weights, noise: 'ignore' }));
    expect(ig.purity).toBe(1);
    expect(ig.atCoverage).toEqual(purityAtCoverage(ig.curve, 0.5));
  });

  it('scores 1M items in 2k clusters over 100 labels in under a second', () => {
    const n = 1_000_000;
    const rand = rng(2024);
    const truth = new Int32Array(n);
    const pred = new Int32Array(n);
    const weights = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(rand() * 2000);
      pred[i] = rand() < 0.1 ? -1 : c;
      truth[i] = rand() < 0.8 ? c % 100 : Math.floor(rand() * 100);
      weights[i] = 1 + Math.floor(rand() * 3);
    }
    scoreClustering(pred.subarray(0, 1000), truth.subarray(0, 1000)); // warm up the JIT
    const t0 = performance.now();
    const s = scoreClustering(pred, truth, { weights });
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(s.clusters).toBe(2000);
    expect(s.labels).toBe(100);
    expect(s.items).toBe(n);
    expect(s.noise.share).toBeCloseTo(0.1, 2);
    expect(s.curve).toHaveLength(2000);
    expect(s.ari).toBeGreaterThan(0);
    expect(s.ari).toBeLessThan(1);
    expect(s.nmi).toBeGreaterThan(0);
    expect(s.purity).toBeGreaterThan(0.7);
  });
});
