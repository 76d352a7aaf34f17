import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET, minCleanSample, withinBudget } from '../../src/promotion/budget';
import { type RouteSample, calibrateRouteThreshold, calibrateRouteThresholds, screenRoutes } from '../../src/promotion/thresholds';
import { rng } from '../support/rng';

/**
 * Held-out traffic the router sends to one route: its own queries (similar, right except a rare mislabel), its
 * neighbours' queries (fairly similar, wrong), and queries from no route (spread out, wrong). Near and far overlap:
 * there is no threshold with zero errors, so the bound has to be earned.
 */
function mix(seed: number, n: number): RouteSample[] {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  return Array.from({ length: n }, () => {
    const u = next();
    if (u < 0.7) return { similarity: 0.8 + 0.08 * gauss(), correct: next() > 0.001, origin: 'own' as const };
    if (u < 0.9) return { similarity: 0.6 + 0.06 * gauss(), correct: false, origin: 'neighbour' as const };
    return { similarity: 0.4 + 0.12 * gauss(), correct: false, origin: 'none' as const };
  });
}

/** The true P(wrong | served) at a threshold, estimated on a very large fresh sample (sorted once, prefix counts). */
function trueError(fresh: ReadonlyArray<RouteSample>): (threshold: number) => number {
  const sorted = [...fresh].sort((a, b) => b.similarity - a.similarity);
  const wrong = new Int32Array(sorted.length + 1);
  sorted.forEach((s, i) => (wrong[i + 1] = wrong[i]! + (s.correct ? 0 : 1)));
  return (threshold) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.similarity >= threshold) lo = mid + 1;
      else hi = mid;
    }
    return wrong[lo]! / lo;
  };
}

describe('calibrateRouteThreshold', () => {
  const trueErrorAt = trueError(mix(999, 200_000));

  it('keeps P(wrong route | served) within the budget on fresh traffic, in at least 95% of calibrations', () => {
    let violations = 0;
    let none = 0;
    const runs = 40;
    for (let seed = 1; seed <= runs; seed++) {
      const cal = calibrateRouteThreshold(mix(seed, 3000));
      if (cal.threshold === null) {
        none++;
        continue;
      }
      expect(cal.bound).toBeLessThanOrEqual(DEFAULT_BUDGET.maxErrorRate);
      if (trueErrorAt(cal.threshold) > DEFAULT_BUDGET.maxErrorRate) violations++;
    }
    expect(violations / runs).toBeLessThanOrEqual(0.05);
    // And it is not vacuous: nearly every calibration finds a threshold (a refusal is safe, but serves nothing).
    expect(none).toBeLessThanOrEqual(3);
  });

  it("is loose where it can be: it serves most of the route's own traffic, far more than a fixed strict threshold", () => {
    const data = mix(5, 3000);
    const cal = calibrateRouteThreshold(data);
    const own = data.filter((s) => s.correct);
    const recallAt = (t: number) => own.filter((s) => s.similarity >= t).length / own.length;
    expect(cal.recall).toBeCloseTo(recallAt(cal.threshold!), 12);
    expect(cal.recall).toBeGreaterThan(3 * recallAt(0.9));
    // ... and not looser than the data allows: one step looser would break the bound on the calibration data.
    const sorted = mix(5, 3000).sort((a, b) => b.similarity - a.similarity);
    const next = sorted.findIndex((s) => s.similarity < cal.threshold!);
    let errors = 0;
    for (let i = 0; i <= next; i++) if (!sorted[i]!.correct) errors++;
    expect(withinBudget(errors, next + 1).ok).toBe(false);
  });

  it('records its evidence: counts per origin, errors, bound, threshold', () => {
    const cal = calibrateRouteThreshold(mix(6, 3000));
    expect(cal.tested).toBe(3000);
    expect(cal.byOrigin.own!.served).toBeGreaterThan(cal.byOrigin.neighbour!.served);
    expect(cal.byOrigin.own!.served + cal.byOrigin.neighbour!.served + (cal.byOrigin.none?.served ?? 0)).toBe(cal.n);
    expect(cal.byOrigin.neighbour!.wrong).toBe(cal.byOrigin.neighbour!.served);
    expect(withinBudget(cal.errors, cal.n).bound).toBeCloseTo(cal.bound, 12);
  });

  it('serves nothing when the evidence cannot show the budget, and says why', () => {
    const few = calibrateRouteThreshold(mix(7, minCleanSample() - 1));
    expect(few).toMatchObject({ threshold: null, n: 0 });
    expect(few.reason).toMatch(/fewest that can show the budget/);
    const noisy = calibrateRouteThreshold(mix(8, 3000).map((s, i) => ({ ...s, correct: s.correct && i % 20 !== 0 })));
    expect(noisy.threshold).toBeNull();
    expect(noisy.reason).toMatch(/already bound P\(wrong\)/);
  });
});

describe('calibrateRouteThresholds', () => {
  it('calibrates big routes alone, pools the small ones, and keeps a failing big route off', () => {
    const small = Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, samples: mix(100 + i, 100) }));
    const big = { id: 'big', samples: mix(200, 2000) };
    const bad = { id: 'bad', samples: mix(300, 2000).map((s) => ({ ...s, correct: false })) };
    const out = calibrateRouteThresholds([big, bad, ...small]);
    expect(out.get('big')).toMatchObject({ pooled: false, tested: 2000 });
    expect(out.get('big')!.threshold).not.toBeNull();
    expect(out.get('bad')).toMatchObject({ pooled: false, threshold: null });
    expect(out.get('s0')).toMatchObject({ pooled: true, tested: 600 });
    expect(out.get('s0')!.threshold).toBe(out.get('s5')!.threshold);
  });
});

describe('screenRoutes', () => {
  it('keeps routes whose screening queries are served within the budget, refuses the rest with the count', () => {
    const ok = { id: 'ok', samples: mix(400, 200).map((s) => ({ ...s, correct: true })) };
    const mixed = { id: 'mixed', samples: mix(401, 50).map((s, i) => ({ ...s, correct: i % 10 !== 0 })) };
    const r = screenRoutes([ok, mixed, { id: 'empty', samples: [] }]);
    expect([...r.eligible]).toEqual(['ok']);
    expect(r.refused).toEqual([
      { id: 'mixed', reason: '5 of 50 screening queries served wrongly (> 1.00%)' },
      { id: 'empty', reason: 'no screening queries' },
    ]);
  });
});
