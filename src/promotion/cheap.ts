import { type BudgetCheck, DEFAULT_BUDGET, type ErrorBudget, withinBudget } from './budget';

/**
 * Cheap-model trials (the cheap tier's promotion): a frequent route that stays on the frontier sends a sample of its
 * held-out queries to the configured cheap model; the judge compares each answer with the accepted one; the route
 * moves to the cheap tier when the upper bound of the cheap answers' error rate is within the tenant's budget.
 */

export interface TrialRoute {
  routeId: string;
  share: number;
  /** The route's current tier (a route already on a cheaper tier is not tried). */
  tier: 'template' | 'adapter' | 'cheap' | 'frontier';
  /** Accepted interactions of the route the trial can send (the cheap model has seen none of them). */
  available: number;
}

export interface TrialOptions {
  /** Least traffic share a route needs to be worth a trial (default 0.02). */
  minShare?: number;
  /** Held-out queries sent per route (default: the fewest that can pass clean, 299 at 1%). */
  samples?: number;
  /** Most routes tried per run (largest first; default 10). */
  maxRoutes?: number;
}

/** Least traffic share a route needs to be worth a trial, by default. */
export const DEFAULT_TRIAL_MIN_SHARE = 0.02;

/** The routes to try, largest first: on the frontier, frequent, with enough held-out queries to possibly pass. */
export function trialRoutes(routes: ReadonlyArray<TrialRoute>, budget: ErrorBudget, opts: TrialOptions = {}): Array<TrialRoute & { skip?: string }> {
  const minShare = opts.minShare ?? DEFAULT_TRIAL_MIN_SHARE;
  const need = trialSampleSize(budget, opts.samples);
  return routes
    .filter((r) => r.tier === 'frontier' && r.share >= minShare)
    .sort((a, b) => b.share - a.share || (a.routeId < b.routeId ? -1 : 1))
    .slice(0, opts.maxRoutes ?? 10)
    .map((r) => (r.available < need ? { ...r, skip: `${r.available} accepted queries < the ${need} a trial needs to pass within the budget` } : r));
}

/** Queries a trial sends: as asked, but never fewer than the budget's smallest passing sample. */
export function trialSampleSize(budget: ErrorBudget = DEFAULT_BUDGET, asked?: number): number {
  let clean = 1;
  while (!withinBudget(0, clean, budget).ok) clean++;
  return Math.max(clean, asked ?? clean);
}

export interface TrialVerdict {
  promote: boolean;
  /** Share of judged answers that agree (the cheap tier's measured quality on the judge's scale). */
  agreement: number;
  check: BudgetCheck;
  reason: string;
}

/** Judges a finished trial: `pAgree` per sampled query (a failed call counts as wrong). */
export function trialVerdict(pAgree: ReadonlyArray<number>, budget: ErrorBudget = DEFAULT_BUDGET): TrialVerdict {
  const rightAt = 1 - budget.maxErrorRate;
  const errors = pAgree.filter((p) => !(p >= rightAt)).length;
  const check = withinBudget(errors, pAgree.length, budget);
  const agreement = pAgree.length ? 1 - errors / pAgree.length : 0;
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return {
    promote: check.ok,
    agreement,
    check,
    reason: check.ok
      ? `cheap answers: ${errors} of ${pAgree.length} disagree; error bound ${pct(check.bound)} within the ${pct(budget.maxErrorRate)} budget`
      : `cheap answers: ${errors} of ${pAgree.length} disagree; error bound ${pct(check.bound)} > the ${pct(budget.maxErrorRate)} budget`,
  };
}
