import { describe, expect, it } from 'vitest';
import { DEFAULT_BUDGET } from '../../src/promotion/budget';
import { trialRoutes, trialSampleSize, trialVerdict } from '../../src/promotion/cheap';

describe('cheap-model trials', () => {
  it('sends at least the fewest queries that can pass the budget clean (299 at 1%, 59 at 5%)', () => {
    expect(trialSampleSize(DEFAULT_BUDGET)).toBe(299);
    expect(trialSampleSize({ ...DEFAULT_BUDGET, maxErrorRate: 0.05 })).toBe(59);
    expect(trialSampleSize(DEFAULT_BUDGET, 100)).toBe(299);
    expect(trialSampleSize(DEFAULT_BUDGET, 400)).toBe(400);
  });

  it('tries frequent frontier routes, largest first; routes on a cheaper tier or too small are left alone', () => {
    const routes = trialRoutes(
      [
        { routeId: 'a', share: 0.1, tier: 'frontier', available: 500 },
        { routeId: 'b', share: 0.3, tier: 'frontier', available: 500 },
        { routeId: 't', share: 0.4, tier: 'template', available: 500 },
        { routeId: 'tiny', share: 0.01, tier: 'frontier', available: 500 },
        { routeId: 'thin', share: 0.05, tier: 'frontier', available: 40 },
      ],
      DEFAULT_BUDGET,
    );
    expect(routes.map((r) => r.routeId)).toEqual(['b', 'a', 'thin']);
    expect(routes[2]!.skip).toMatch(/40 accepted queries < the 299/);
  });

  it('promotes when the upper bound of the cheap answers’ error rate is within the budget; counts P(agree) below 1 - budget as wrong', () => {
    const agree = Array.from({ length: 299 }, () => 0.999);
    const ok = trialVerdict(agree, DEFAULT_BUDGET);
    expect(ok).toMatchObject({ promote: true, agreement: 1 });
    expect(ok.check.bound).toBeLessThanOrEqual(0.01);
    // One answer the judge is only 95% sure of is a wrong answer at a 1% budget: the bound leaves it.
    const unsure = trialVerdict([...agree.slice(1), 0.95], DEFAULT_BUDGET);
    expect(unsure.promote).toBe(false);
    expect(unsure.reason).toMatch(/1 of 299 disagree; error bound 1\.\d\d% > the 1\.00% budget/);
    // The same answers at a 5% budget pass.
    expect(trialVerdict([...agree.slice(1), 0.95], { ...DEFAULT_BUDGET, maxErrorRate: 0.05 }).promote).toBe(true);
    expect(trialVerdict([], DEFAULT_BUDGET).promote).toBe(false);
  });
});
