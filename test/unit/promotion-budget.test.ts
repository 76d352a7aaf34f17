import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BUDGET,
  type ErrorBudget,
  clopperPearsonUpperBound,
  minCleanSample,
  normalQuantile,
  selectWithinBudget,
  validateBudget,
  wilsonUpperBound,
  withinBudget,
} from '../../src/promotion/budget';
import { rng } from '../support/rng';

const WILSON: ErrorBudget = { ...DEFAULT_BUDGET, method: 'wilson' };

/** P(X <= k), X ~ Binomial(n, p), by direct summation: an independent check of the bisection. */
function cdf(k: number, n: number, p: number): number {
  let s = 0;
  let c = 1;
  for (let i = 0; i <= k; i++) {
    if (i > 0) c = (c * (n - i + 1)) / i;
    s += c * p ** i * (1 - p) ** (n - i);
  }
  return s;
}

describe('normalQuantile', () => {
  it('gives the familiar one- and two-sided z values and is antisymmetric', () => {
    expect(normalQuantile(0.95)).toBeCloseTo(1.644854, 5);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
    expect(normalQuantile(0.3)).toBeCloseTo(-normalQuantile(0.7), 9);
  });
});

describe('upper bounds of an error rate', () => {
  it('Clopper-Pearson: seeing k or fewer errors at the bound has probability exactly 1 - confidence', () => {
    for (const [k, n] of [
      [0, 50],
      [1, 100],
      [3, 300],
      [10, 2000],
    ] as const) {
      const u = clopperPearsonUpperBound(k, n, 0.95);
      expect(u).toBeGreaterThan(k / n);
      expect(cdf(k, n, u)).toBeCloseTo(0.05, 6);
    }
    // With no errors it is 1 - alpha^(1/n): the "rule of three" region (about 3/n).
    expect(clopperPearsonUpperBound(0, 300)).toBeCloseTo(1 - 0.05 ** (1 / 300), 12);
  });

  it('Wilson is the verify.ts lower bound mirrored, one-sided, and narrower than the exact bound near zero', () => {
    const z = normalQuantile(0.95);
    // With no errors the Wilson upper bound is z^2 / (n + z^2).
    expect(wilsonUpperBound(0, 100)).toBeCloseTo((z * z) / (100 + z * z), 12);
    expect(wilsonUpperBound(2, 300)).toBeLessThan(clopperPearsonUpperBound(2, 300));
    expect(wilsonUpperBound(0, 0)).toBe(1);
  });

  it('both grow with errors and shrink with evidence', () => {
    for (const b of [DEFAULT_BUDGET, WILSON]) {
      const m = b.method === 'wilson' ? wilsonUpperBound : clopperPearsonUpperBound;
      expect(m(2, 500, 0.95)).toBeGreaterThan(m(1, 500, 0.95));
      expect(m(2, 1000, 0.95)).toBeLessThan(m(2, 500, 0.95));
    }
  });

  it('Clopper-Pearson covers: at a true 1% error rate the bound falls below it in at most 5% of samples', () => {
    const next = rng(7);
    let misses = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      let k = 0;
      for (let i = 0; i < 400; i++) if (next() < 0.01) k++;
      if (clopperPearsonUpperBound(k, 400) < 0.01) misses++;
    }
    expect(misses / trials).toBeLessThanOrEqual(0.05);
  });
});

describe('withinBudget and minCleanSample', () => {
  it('needs 299 clean answers at 1% / 95% (exact), 268 with Wilson: no promotion stands on less', () => {
    const exact = Math.ceil(Math.log(0.05) / Math.log(0.99));
    const wilson = Math.ceil(99 * normalQuantile(0.95) ** 2);
    expect(minCleanSample(DEFAULT_BUDGET)).toBe(exact);
    expect(minCleanSample(WILSON)).toBe(wilson);
    expect(withinBudget(0, exact).ok).toBe(true);
    expect(withinBudget(0, exact - 1).ok).toBe(false);
    // One error needs much more evidence than a clean record.
    expect(withinBudget(1, exact).ok).toBe(false);
    expect(withinBudget(1, 474).ok).toBe(true);
    expect(withinBudget(1, 470).ok).toBe(false);
  });

  it('reports the figures it decided on, and refuses nonsense with the field named', () => {
    const c = withinBudget(2, 1000);
    expect(c).toMatchObject({ n: 1000, errors: 2, rate: 0.002 });
    expect(c.bound).toBeCloseTo(clopperPearsonUpperBound(2, 1000), 12);
    expect(() => withinBudget(5, 3)).toThrow(/errors <= n/);
    expect(() => validateBudget({ ...DEFAULT_BUDGET, maxErrorRate: 5 })).toThrow(/budget.maxErrorRate/);
    expect(() => validateBudget({ ...DEFAULT_BUDGET, confidence: 1 })).toThrow(/budget.confidence/);
  });
});

describe('selectWithinBudget', () => {
  it('pools clean small items that could not pass alone, and never admits an item worse than the budget', () => {
    const small = Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, errors: 0, n: 80 }));
    for (const s of small) expect(withinBudget(s.errors, s.n).ok).toBe(false);
    const bad = { id: 'bad', errors: 3, n: 100 };
    const r = selectWithinBudget([...small, bad]);
    expect(r.admitted.map((a) => a.id).sort()).toEqual(small.map((s) => s.id));
    expect(r.refused.map((x) => x.id)).toEqual(['bad']);
    expect(r.refused[0]!.reason).toMatch(/error rate 3.00% > budget 1.00%/);
    expect(r.pooled.ok).toBe(true);
  });

  it('drops the dirtiest items until the pooled bound holds, and admits nothing when evidence is too thin', () => {
    const items = [
      { id: 'a', errors: 0, n: 300 },
      { id: 'b', errors: 2, n: 250 },
    ];
    const r = selectWithinBudget(items);
    expect(r.admitted.map((a) => a.id)).toEqual(['a']);
    expect(r.refused[0]).toMatchObject({ id: 'b' });
    expect(selectWithinBudget([{ id: 'x', errors: 0, n: 100 }]).admitted).toEqual([]);
  });
});
