import { describe, expect, it } from 'vitest';
import { clusterQueries } from '../../src/clustering/cluster';
import { assignIdentities, type PriorCluster } from '../../src/clustering/identity';

const DIMS = 64;

/** Deterministic PRNG so tests are reproducible. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
function gauss(r: () => number) {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}
function unit(v: Float32Array) {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return v.map((x) => x / n);
}
/** `groups` intents, `per` paraphrases each at cosine ≈ 0.85 to their intent centre, counts 1..5. */
function synth(groups: number, per: number, seed = 1, centers?: Float32Array[]) {
  const r = rng(seed);
  const cs = centers ?? Array.from({ length: groups }, () => unit(Float32Array.from({ length: DIMS }, () => gauss(r))));
  const vectors = new Float32Array(groups * per * DIMS);
  const weights: number[] = [];
  const truth: number[] = [];
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < per; i++) {
      const v = unit(Float32Array.from({ length: DIMS }, (_, j) => cs[g]![j]! + 0.08 * gauss(r)));
      vectors.set(v, (g * per + i) * DIMS);
      weights.push(1 + Math.floor(r() * 5));
      truth.push(g);
    }
  }
  return { vectors, weights, truth, centers: cs };
}

function purity(assignment: Int32Array, truth: number[]) {
  const byCluster = new Map<number, Map<number, number>>();
  assignment.forEach((c, i) => {
    if (c < 0) return;
    const m = byCluster.get(c) ?? new Map();
    m.set(truth[i]!, (m.get(truth[i]!) ?? 0) + 1);
    byCluster.set(c, m);
  });
  let ok = 0;
  let total = 0;
  for (const m of byCluster.values()) {
    ok += Math.max(...m.values());
    total += [...m.values()].reduce((a, b) => a + b, 0);
  }
  return ok / total;
}

describe('clusterQueries', () => {
  it('recovers well-separated intents, numbered by descending traffic, with centroids and cohesion', () => {
    const { vectors, weights, truth } = synth(12, 40);
    const res = clusterQueries({ vectors, dims: DIMS, weights }, { threads: 1 });
    expect(res.weight.length).toBe(12);
    expect(purity(res.assignment, truth)).toBe(1);
    expect([...res.assignment].filter((a) => a < 0)).toHaveLength(0);
    for (let c = 1; c < res.weight.length; c++) expect(res.weight[c - 1]!).toBeGreaterThanOrEqual(res.weight[c]!);
    // Paraphrases sit at cosine ≈ 0.88 from their intent's centre: cohesion measures exactly that.
    for (const h of res.cohesion) expect(h).toBeGreaterThan(0.8);
    for (const h of res.cohesion) expect(h).toBeLessThan(0.95);
    const total = weights.reduce((a, b) => a + b, 0);
    expect([...res.weight].reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('leaves isolated one-off queries as noise instead of forcing them into clusters', () => {
    const { vectors, weights } = synth(5, 30, 2);
    const r = rng(99);
    const outliers = 8;
    const all = new Float32Array(vectors.length + outliers * DIMS);
    all.set(vectors);
    for (let i = 0; i < outliers; i++) all.set(unit(Float32Array.from({ length: DIMS }, () => gauss(r))), vectors.length + i * DIMS);
    const res = clusterQueries({ vectors: all, dims: DIMS, weights: [...weights, ...Array(outliers).fill(1)] }, { threads: 1 });
    expect(res.weight.length).toBe(5);
    expect([...res.assignment.slice(-outliers)]).toEqual(Array(outliers).fill(-1));
  });

  it('does not merge intents just because a lower threshold is allowed elsewhere: close-but-distinct intents stay apart', () => {
    const r = rng(5);
    const base = unit(Float32Array.from({ length: DIMS }, () => gauss(r)));
    // two intents whose centres have cosine ≈ 0.6
    const other = unit(base.map((x) => x + ((1.3 * gauss(r)) / Math.sqrt(DIMS)) * 4));
    const { vectors, weights, truth } = synth(2, 50, 6, [base, other]);
    const res = clusterQueries({ vectors, dims: DIMS, weights }, { threads: 1 });
    expect(purity(res.assignment, truth)).toBeGreaterThan(0.95);
    expect(res.weight.length).toBe(2);
  });

  it('handles empty input and rejects mismatched shapes', () => {
    expect(clusterQueries({ vectors: new Float32Array(0), dims: DIMS, weights: [] }).weight.length).toBe(0);
    expect(() => clusterQueries({ vectors: new Float32Array(10), dims: DIMS, weights: [1] })).toThrow(/expected 1 × 64/);
  });
});

describe('clusterQueries, graph algorithm (kNN graph + Louvain)', () => {
  it('recovers well-separated intents, with every cluster one intent, and repeats exactly on the same input', () => {
    const { vectors, weights, truth } = synth(12, 40, 3);
    const params = { algorithm: 'graph' as const, threads: 1 };
    const a = clusterQueries({ vectors, dims: DIMS, weights }, params);
    expect(purity(a.assignment, truth)).toBe(1);
    // Louvain may split an intent but never joins two here: at least one cluster per intent, not many more.
    expect(a.weight.length).toBeGreaterThanOrEqual(12);
    expect(a.weight.length).toBeLessThanOrEqual(24);
    for (let c = 1; c < a.weight.length; c++) expect(a.weight[c - 1]!).toBeGreaterThanOrEqual(a.weight[c]!);
    const b = clusterQueries({ vectors, dims: DIMS, weights }, params);
    expect([...b.assignment]).toEqual([...a.assignment]);
  });

  it('leaves queries with no neighbour above the edge threshold as noise', () => {
    const { vectors, weights } = synth(4, 30, 4);
    const r = rng(7);
    const outliers = 6;
    const all = new Float32Array(vectors.length + outliers * DIMS);
    all.set(vectors);
    for (let i = 0; i < outliers; i++) all.set(unit(Float32Array.from({ length: DIMS }, () => gauss(r))), vectors.length + i * DIMS);
    const res = clusterQueries({ vectors: all, dims: DIMS, weights: [...weights, ...Array(outliers).fill(1)] }, { algorithm: 'graph', threads: 1 });
    expect([...res.assignment.slice(-outliers)]).toEqual(Array(outliers).fill(-1));
  });
});

describe('assignIdentities', () => {
  const run = (groups: number, seed: number, centers?: Float32Array[]) => {
    const d = synth(groups, 30, seed, centers);
    return { ...d, res: clusterQueries({ vectors: d.vectors, dims: DIMS, weights: d.weights }, { threads: 1 }) };
  };
  const priorOf = (ids: string[], centroids: Float32Array): PriorCluster[] =>
    ids.map((id, c) => ({ id, status: 'active', centroid: centroids.slice(c * DIMS, (c + 1) * DIMS) }));

  it('a query set clustered twice keeps every id, with no events', () => {
    const first = run(8, 11);
    const a = assignIdentities([], { centroids: first.res.centroids, dims: DIMS }, (c) => `r1-${c}`);
    expect(a.events.filter((e) => e.kind === 'new')).toHaveLength(8);
    // Same intents, fresh paraphrase noise and counts: another month of the same traffic.
    const second = run(8, 12, first.centers);
    const b = assignIdentities(priorOf(a.ids, first.res.centroids), { centroids: second.res.centroids, dims: DIMS }, (c) => `r2-${c}`);
    expect(new Set(b.ids)).toEqual(new Set(a.ids));
    expect(b.events).toEqual([]);
    expect(b.changes).toEqual([]);
  });

  it('adding a new intent adds one cluster without renaming the others', () => {
    const first = run(6, 21);
    const a = assignIdentities([], { centroids: first.res.centroids, dims: DIMS }, (c) => `r1-${c}`);
    const extra = synth(1, 1, 77).centers[0]!;
    const second = run(7, 22, [...first.centers, extra]);
    const b = assignIdentities(priorOf(a.ids, first.res.centroids), { centroids: second.res.centroids, dims: DIMS }, (c) => `r2-${c}`);
    expect(b.ids.filter((id) => id.startsWith('r1-')).sort()).toEqual([...a.ids].sort());
    expect(b.ids.filter((id) => id.startsWith('r2-'))).toHaveLength(1);
    expect(b.events).toEqual([{ kind: 'new', fromIds: [], toIds: [b.ids.find((id) => id.startsWith('r2-'))!] }]);
  });

  it('records merges, splits and retirements, never reusing an id', () => {
    const r = rng(3);
    const c1 = unit(Float32Array.from({ length: DIMS }, () => gauss(r)));
    const c2 = unit(Float32Array.from({ length: DIMS }, () => gauss(r)));
    const near = (v: Float32Array, eps: number) => unit(v.map((x) => x + eps * gauss(r)));
    const prior: PriorCluster[] = [
      { id: 'A', status: 'active', centroid: c1 },
      { id: 'A2', status: 'active', centroid: near(c1, 0.03) }, // will merge into A's successor
      { id: 'B', status: 'active', centroid: c2 }, // will split
      { id: 'Z', status: 'active', centroid: unit(Float32Array.from({ length: DIMS }, () => gauss(r))) }, // gone
    ];
    const next = new Float32Array(3 * DIMS);
    next.set(near(c1, 0.01), 0);
    next.set(near(c2, 0.02), DIMS);
    next.set(near(c2, 0.05), 2 * DIMS);
    const res = assignIdentities(prior, { centroids: next, dims: DIMS }, (c) => `new-${c}`, 0.85);
    expect(res.ids[0]).toMatch(/^A2?$/);
    expect(res.ids[1]).toBe('B');
    expect(res.ids[2]).toBe('new-2');
    expect(res.events).toContainEqual({ kind: 'split', fromIds: ['B'], toIds: ['B', 'new-2'] });
    expect(res.events.find((e) => e.kind === 'merge')?.toIds).toEqual([res.ids[0]]);
    expect(res.events).toContainEqual({ kind: 'retire', fromIds: ['Z'], toIds: [] });
    const merged = res.changes.find((ch) => ch.status === 'merged')!;
    expect(merged.successorIds).toEqual([res.ids[0]]);
    expect(res.ids).not.toContain(merged.id);
  });

  it('revives a retired cluster when the same meaning returns', () => {
    const r = rng(8);
    const c = unit(Float32Array.from({ length: DIMS }, () => gauss(r)));
    const res = assignIdentities([{ id: 'OLD', status: 'retired', centroid: c }], { centroids: c.slice(), dims: DIMS }, () => 'fresh');
    expect(res.ids).toEqual(['OLD']);
    expect(res.changes).toEqual([{ id: 'OLD', status: 'active', successorIds: [] }]);
  });
});
