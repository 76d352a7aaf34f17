import { DEFAULT_BUDGET, type ErrorBudget, errorUpperBound } from '../promotion/budget';
import type { ManifestRoute } from '../serving/manifest';

/**
 * Live agreement of a route's cheaper tier with the teacher, from the shadow sample, and what follows from it: how
 * much of the route's traffic the tier may serve (the ramp) and whether it must be demoted. Pure.
 *
 * Both bounds are the promotion budget's own (src/promotion/budget.ts, Clopper-Pearson at 95% by default):
 *   upper = errorUpperBound(errors, judged): the error rate the route can be said to stay under;
 *   lower = 1 - errorUpperBound(judged - errors, judged): the error rate it is shown to exceed.
 * A route is demoted when `lower > budget.maxErrorRate`: the live sample refutes the budget at the budget's own
 * confidence (at 1% / 95%: 1 disagreement within the first 5 judged, 2 within 35, 3 within 82). A route whose upper bound is
 * not yet inside the budget is not demoted for that alone: promotion already showed it there, and the live sample
 * keeps growing until it can say either way.
 */

export interface LiveStats {
  judged: number;
  errors: number;
}

export interface LiveCheck extends LiveStats {
  rate: number;
  upperBound: number;
  lowerBound: number;
  /** The upper bound is inside the budget: the live sample alone certifies the tier. */
  certified: boolean;
  demote: boolean;
  budget: ErrorBudget;
}

export function liveCheck(s: LiveStats, budget: ErrorBudget = DEFAULT_BUDGET): LiveCheck {
  const { judged, errors } = s;
  const upperBound = errorUpperBound(errors, judged, budget);
  const lowerBound = judged === 0 ? 0 : 1 - errorUpperBound(judged - errors, judged, budget);
  return {
    judged,
    errors,
    rate: judged ? errors / judged : 0,
    upperBound,
    lowerBound,
    certified: judged > 0 && upperBound <= budget.maxErrorRate,
    demote: lowerBound > budget.maxErrorRate,
    budget,
  };
}

/**
 * The ramp of a new tier entry: it serves `shares[k]` of its route's traffic (the rest goes to the frontier), where
 * k steps up by one each `judgedPerStep` shadow judgements while the route is not demoted; the last share (normally
 * 1) holds from then on. While ramping, every request the tier serves is shadowed (so the ramp moves on evidence).
 */
export interface Ramp {
  shares: number[];
  judgedPerStep: number;
}

export const DEFAULT_RAMP: Ramp = { shares: [0.1, 0.5, 1], judgedPerStep: 30 };

export function rampShare(ramp: Ramp, s: LiveStats): { share: number; step: number; ramping: boolean } {
  const last = ramp.shares.length - 1;
  const step = Math.min(last, ramp.judgedPerStep > 0 ? Math.floor(s.judged / ramp.judgedPerStep) : last);
  return { share: ramp.shares[step]!, step, ramping: step < last };
}

/** Names the tier entry a route is served from, so a new entry (new template version, adapter, model) starts anew. */
export function entryKey(route: Pick<ManifestRoute, 'tier' | 'target'>): string {
  const t = route.target as unknown as Record<string, unknown>;
  switch (route.tier) {
    case 'template':
      return `template:${String(t.candidateId)}@${String(t.version)}`;
    case 'adapter':
      return `adapter:${String(t.adapter)}`;
    default:
      return `${route.tier}:${String(t.model ?? '')}`;
  }
}

/** A stable number in [0, 1) for a string (FNV-1a): the same request id always falls on the same side of a share. */
export function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 4294967296;
}
