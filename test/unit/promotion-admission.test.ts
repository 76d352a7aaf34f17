import { describe, expect, it } from 'vitest';
import { type AdmissionSample, type RouteCase, admitRoutes, certifyPrefix, thresholdGrid, walkStart } from '../../src/promotion/admission';
import { DEFAULT_BUDGET, minCleanSample, withinBudget } from '../../src/promotion/budget';
import { rng } from '../support/rng';

const GRID = [0.9, 0.85, 0.8, 0.75, 0.7, 0.6];

/**
 * A synthetic route: `n` queries the router sends it; its own (right) queries sit at high similarity, strays from
 * other intents (wrong with probability `wrongFar`) at low similarity, and a base error rate `wrongNear` everywhere.
 */
function samples(next: () => number, n: number, wrongNear: number, wrongFar = 1, farShare = 0.2): AdmissionSample[] {
  return Array.from({ length: n }, () => {
    const far = next() < farShare;
    const similarity = far ? 0.6 + 0.12 * next() : 0.78 + 0.2 * next();
    return { similarity, wrong: next() < (far ? wrongFar : wrongNear) ? 1 : 0 };
  });
}

function route(next: () => number, id: string, n: number, wrongNear: number): RouteCase {
  return { id, thresholds: GRID, screening: samples(next, n, wrongNear), calibration: samples(next, n, wrongNear) };
}

describe('certifyPrefix (fixed-sequence testing of cumulative prefixes)', () => {
  const start = minCleanSample(DEFAULT_BUDGET);

  it('does not test prefixes below the start, so small clean routes add up before the first test', () => {
    const items = Array.from({ length: 40 }, () => ({ n: 10, errors: 0 }));
    const cut = certifyPrefix(items, DEFAULT_BUDGET, 0);
    expect(cut.length).toBe(40);
    expect(cut.n).toBe(400);
    // Below the start nothing is tested, so nothing is admitted.
    expect(certifyPrefix(items.slice(0, 29), DEFAULT_BUDGET, 0)).toEqual({ length: 0, n: 0, errors: 0 });
  });

  it('stops at the first failing test even where a longer prefix would pass again', () => {
    // 300 clean (passes at the start), then 200 with 4 errors (tested at 500: fails), then 5000 clean that would dilute it.
    const cut = certifyPrefix(
      [
        { n: 300, errors: 0 },
        { n: 200, errors: 4 },
        { n: 5000, errors: 0 },
      ],
      DEFAULT_BUDGET,
      0,
    );
    expect(cut.length).toBe(1);
    expect(cut.failedAt).toEqual({ n: 500, errors: 4 });
  });

  it('tests only at sizes where one more error is affordable: one stray error just past a passing prefix does not end the walk', () => {
    const one = walkStart(DEFAULT_BUDGET, 1);
    const items = [{ n: start, errors: 0 }, { n: 1, errors: 1 }, ...Array.from({ length: 20 }, () => ({ n: 10, errors: 0 }))];
    // Tested at 299 (0 wrong), then first at >= walkStart(1) samples (1 wrong): every test passes.
    const cut = certifyPrefix(items, DEFAULT_BUDGET, 0);
    expect(start + 1 + 200).toBeGreaterThanOrEqual(one);
    expect(cut).toMatchObject({ length: items.length, errors: 1 });
    expect(cut.failedAt).toBeUndefined();
    // A prefix tested at every size would have failed at 300 (1 wrong of 300 bounds P(wrong) above 1%).
    expect(withinBudget(1, start + 1, DEFAULT_BUDGET).ok).toBe(false);
  });

  it('walkStart is the fewest samples that pass with the tolerated errors', () => {
    expect(walkStart(DEFAULT_BUDGET, 0)).toBe(start);
    expect(walkStart(DEFAULT_BUDGET, 2)).toBeGreaterThan(600);
  });
});

describe('admitRoutes', () => {
  it('admits many small clean routes together that no route could show alone, and keeps a route that mixes intents out', () => {
    const next = rng(3);
    const clean = Array.from({ length: 60 }, (_, i) => route(next, `r${i}`, 25, 0));
    const mixed = route(next, 'mixed', 25, 0.3);
    const a = admitRoutes([...clean, mixed], DEFAULT_BUDGET, { startTolerance: 0 });
    const ids = new Set(a.admitted.map((r) => r.id));
    expect(ids.has('mixed')).toBe(false);
    expect(ids.size).toBeGreaterThan(50);
    expect(a.pooled.ok).toBe(true);
    expect(a.pooled.bound).toBeLessThanOrEqual(DEFAULT_BUDGET.maxErrorRate);
    // Strays from other intents sit below 0.78: the chosen level must leave them out (and not be the strictest).
    const t = a.admitted[0]!.threshold;
    expect(t).toBeGreaterThanOrEqual(0.72);
    expect(t).toBeLessThan(0.9);
  });

  it("certify 'single' tests the screening-chosen prefix once: one stray error among the first queries does not end it", () => {
    const next = rng(21);
    const clean = Array.from({ length: 40 }, (_, i) => route(next, `c${i}`, 30, 0));
    // The first route of the order (most screening evidence, clean there) errs once on the calibration split.
    const first: RouteCase = {
      id: 'a-first',
      thresholds: GRID,
      screening: samples(next, 400, 0, 1, 0),
      calibration: [...samples(next, 399, 0, 1, 0), { similarity: 0.95, wrong: 1 }],
    };
    const routes = [first, ...clean];
    expect(admitRoutes(routes, DEFAULT_BUDGET, { startTolerance: 0 }).admitted).toEqual([]);
    const single = admitRoutes(routes, DEFAULT_BUDGET, { startTolerance: 0, certify: 'single' });
    expect(single.admitted.map((r) => r.id)).toContain('a-first');
    expect(single.pooled.ok).toBe(true);
    // The stray error is among what it certified (with whatever the looser steps it reached add).
    expect(single.pooled.errors).toBeGreaterThanOrEqual(1);
  });

  it('serves nothing, and says why, when the calibration split cannot reach the clean minimum', () => {
    const next = rng(5);
    const a = admitRoutes([route(next, 'a', 40, 0), route(next, 'b', 40, 0)], DEFAULT_BUDGET, { startTolerance: 0 });
    expect(a.admitted).toEqual([]);
    expect(a.reason).toMatch(/299/);
  });

  it('a margin level leaves out queries between two answers', () => {
    const next = rng(9);
    // Right queries have a clear margin; wrong ones sit between two routes (margin < 0.03), at every similarity.
    const mk = (id: string): RouteCase => {
      const gen = () =>
        Array.from({ length: 40 }, () => {
          const between = next() < 0.1;
          return { similarity: 0.8 + 0.15 * next(), margin: between ? 0.02 * next() : 0.05 + 0.2 * next(), wrong: between ? 1 : 0 };
        });
      return { id, thresholds: GRID, screening: gen(), calibration: gen() };
    };
    const routes = Array.from({ length: 30 }, (_, i) => mk(`m${i}`));
    expect(admitRoutes(routes, DEFAULT_BUDGET, { startTolerance: 0 }).admitted).toEqual([]);
    const withMargin = admitRoutes(routes, DEFAULT_BUDGET, { startTolerance: 0, margins: [0, 0.03, 0.06] });
    expect(withMargin.margin).toBeGreaterThanOrEqual(0.03);
    expect(withMargin.admitted.length).toBe(30);
  });

  it('the admitted set keeps its TRUE error rate within the budget in at least ~95% of logs', () => {
    // Routes with known true error rates (most clean-ish, some beyond the budget); the guarantee is about the
    // traffic-weighted true rate of whatever gets admitted, over repeated logs.
    const next = rng(11);
    const rates = Array.from({ length: 60 }, (_, i) => (i % 6 === 0 ? 0.04 : i % 6 === 1 ? 0.012 : 0.001));
    let violations = 0;
    let admittedAny = 0;
    const reps = 200;
    for (let rep = 0; rep < reps; rep++) {
      const routes = rates.map((p, i) => {
        const gen = () => Array.from({ length: 80 }, () => ({ similarity: 0.8 + 0.2 * next(), wrong: next() < p ? 1 : 0 }));
        return { id: String(i), thresholds: [0.8], screening: gen(), calibration: gen() };
      });
      const a = admitRoutes(routes, DEFAULT_BUDGET, { startTolerance: 0 });
      if (!a.admitted.length) continue;
      admittedAny++;
      const trueRate = a.admitted.reduce((s, r) => s + rates[Number(r.id)]!, 0) / a.admitted.length;
      if (trueRate > DEFAULT_BUDGET.maxErrorRate) violations++;
    }
    // Admission is not always possible (one error among the first 299 ends the walk); the guarantee is what counts.
    expect(admittedAny).toBeGreaterThan(reps / 5);
    expect(violations / reps).toBeLessThanOrEqual(0.08);
  });
});

describe('thresholdGrid', () => {
  it('runs strict to loose from the route members own similarities, then below the loosest member', () => {
    const g = thresholdGrid([0.95, 0.9, 0.85, 0.8, 0.75, 0.72, 0.71, 0.7, 0.9, 0.88]);
    expect(g[0]).toBeCloseTo(0.8, 9); // the median of ten: sorted[floor(0.5 * 9)]
    expect(g.at(-1)).toBeCloseTo(0.6, 9);
    for (let i = 1; i < g.length; i++) expect(g[i]!).toBeLessThanOrEqual(g[i - 1]!);
  });

  it('names the field when a route has no clustered queries', () => {
    expect(() => thresholdGrid([])).toThrow(/memberSimilarities/);
  });
});
