import { describe, expect, it } from 'vitest';
import { NearestIndex } from '../../src/serving/nearest';
import { resolverFor } from '../../src/serving/resolver';
import { simdAvailable } from '../../src/serving/simd';
import { near, randomRoutes, randomUnit, rng, syntheticManifest } from '../../src/router/synthetic';

function matrix(vs: Float32Array[], dims: number): Float32Array {
  const m = new Float32Array(vs.length * dims);
  vs.forEach((v, i) => m.set(v, i * dims));
  return m;
}

/** Independent brute force: best cosine and the runner-up's, in f64. */
function brute(vs: Float32Array[], q: Float32Array): { index: number; sim: number; gap: number } {
  let best = -1;
  let bestSim = -Infinity;
  let second = -Infinity;
  let qn = 0;
  for (let d = 0; d < q.length; d++) qn += q[d]! * q[d]!;
  vs.forEach((v, i) => {
    let dot = 0;
    let vn = 0;
    for (let d = 0; d < q.length; d++) {
      dot += q[d]! * v[d]!;
      vn += v[d]! * v[d]!;
    }
    const sim = dot / Math.sqrt(qn * vn);
    if (sim > bestSim) {
      second = bestSim;
      bestSim = sim;
      best = i;
    } else if (sim > second) second = sim;
  });
  return { index: best, sim: bestSim, gap: bestSim - second };
}

/** Clustered centroids: `groups` topics, each with routes at cosine ~0.85–0.95 to the topic (like related intents). */
function clustered(n: number, dims: number, groups: number, seed: number): Float32Array[] {
  const r = rng(seed);
  const topics = Array.from({ length: groups }, () => randomUnit(dims, r));
  return Array.from({ length: n }, (_, i) => near(topics[i % groups]!, 0.85 + 0.1 * r.next(), r));
}

describe.runIf(simdAvailable())('NearestIndex prefilter', () => {
  it.each([
    ['random centroids', 2000, 384, (n: number, d: number) => randomRoutes(n, d, 11).centroids],
    ['clustered centroids', 2000, 384, (n: number, d: number) => clustered(n, d, 40, 12)],
    ['dims not a multiple of 16', 2000, 100, (n: number, d: number) => clustered(n, d, 25, 13)],
  ])(
    'returns the same route as an exact scan: %s',
    (_, n, dims, make) => {
      const vs = make(n, dims);
      const index = NearestIndex.build(matrix(vs, dims), n, dims, { kernel: 'simd' });
      expect(index.kernel).toBe('simd');
      const r = rng(99);
      let disagree = 0;
      let nearTies = 0;
      const queries = 2500;
      for (let k = 0; k < queries; k++) {
        // Mostly queries near a route (cosine 0.3–0.99), some far from everything.
        const q = k % 5 === 4 ? randomUnit(dims, r) : near(vs[Math.floor(r.next() * n)]!, 0.3 + 0.69 * r.next(), r);
        const got = index.nearest(q)!;
        const exact = index.exactNearest(q)!;
        if (got.index !== exact.index) disagree++;
        expect(got.similarity).toBe(exact.similarity);
        if (k % 10) continue;
        const b = brute(vs, q);
        expect(Math.abs(got.similarity - b.sim)).toBeLessThan(1e-6);
        if (got.index !== b.index) {
          // Only a float-level tie may differ from an f64 scan written independently.
          expect(b.gap).toBeLessThan(1e-6);
          nearTies++;
        }
      }
      expect(disagree).toBe(0);
      expect(nearTies).toBeLessThanOrEqual(2);
      expect(index.stats.uncertified).toBe(0);
      // The prefilter re-checks a handful of routes, not the index.
      expect(index.stats.reranked / index.stats.queries).toBeLessThan(n / 20);
    },
    60_000,
  );

  it('breaks exact ties towards the lower row, as a scan does', () => {
    const r = rng(5);
    const vs = Array.from({ length: 1000 }, () => randomUnit(64, r));
    vs[700] = vs[300]!.slice();
    vs[900] = vs[300]!.slice();
    const index = NearestIndex.build(matrix(vs, 64), 1000, 64, { kernel: 'simd' });
    expect(index.nearest(near(vs[300]!, 0.9, r))!.index).toBe(300);
  });

  it('caps the re-check when many routes are within the error band, counts it, and stays within the band', () => {
    // 2000 near-duplicate routes (cosine 0.999 to one topic): every route is inside the band of a query near them.
    const r = rng(4);
    const topic = randomUnit(64, r);
    const vs = Array.from({ length: 2000 }, () => near(topic, 0.999, r));
    const index = NearestIndex.build(matrix(vs, 64), 2000, 64, { kernel: 'simd', maxRerank: 16 });
    for (let k = 0; k < 200; k++) {
      const q = near(topic, 0.9, r);
      const got = index.nearest(q)!;
      const exact = index.exactNearest(q)!;
      expect(got.similarity).toBeLessThanOrEqual(exact.similarity);
      expect(exact.similarity - got.similarity).toBeLessThan(0.01);
    }
    expect(index.stats.uncertified).toBe(200);
    expect(index.stats.reranked).toBeLessThanOrEqual(200 * 17);
  });
});

describe('NearestIndex', () => {
  it('scans exactly without the prefilter for small indexes, and handles empty and zero input', () => {
    const r = rng(1);
    const vs = Array.from({ length: 10 }, () => randomUnit(16, r));
    const index = NearestIndex.build(matrix(vs, 16), 10, 16);
    expect(index.kernel).toBe('exact');
    expect(index.nearest(vs[7]!)).toEqual({ index: 7, similarity: expect.closeTo(1, 6) });
    expect(index.nearest(new Float32Array(16))).toBeNull();
    expect(NearestIndex.build(new Float32Array(0), 0, 16).nearest(vs[0]!)).toBeNull();
    expect(() => index.nearest(new Float32Array(15))).toThrow(/15 dims/);
  });

  it('normalises rows and queries (cosine, not dot product)', () => {
    const index = NearestIndex.build(Float32Array.from([10, 0, 0, 0.1]), 2, 2);
    expect(index.nearest(Float32Array.from([0.1, 3]))).toEqual({ index: 1, similarity: expect.closeTo(3 / Math.sqrt(9.01), 6) });
  });
});

describe('resolverFor with a large manifest', () => {
  it('routes like an exact scan', () => {
    const { routes, centroids } = randomRoutes(3000, 96, 8);
    const m = syntheticManifest({ dims: 96, routes });
    const fast = resolverFor(m);
    const exact = resolverFor(m, { index: { kernel: 'exact' } });
    const r = rng(17);
    for (let k = 0; k < 2000; k++) {
      const q = near(centroids[Math.floor(r.next() * 3000)]!, 0.5 + 0.5 * r.next(), r);
      const a = fast(q, 'q');
      const b = exact(q, 'q');
      expect(a.nearestRouteId).toBe(b.nearestRouteId);
      expect(a.routeId).toBe(b.routeId);
      expect(a.similarity).toBe(b.similarity);
    }
  });
});
