import { DEFAULT_BUDGET, type BudgetCheck, type ErrorBudget, errorUpperBound, minCleanSample, withinBudget } from './budget';

/**
 * Admission of routes under the tenant's ONE error budget. The budget bounds the error rate of everything served,
 * so evidence pools over routes; what must not happen is that the data which chose the routes (and their
 * thresholds) also certifies them. Held-out queries are therefore split in two, by a hash the labels never touch:
 * - screening: chooses a threshold level, drops routes that serve their screening queries wrongly, and orders the
 *   rest by estimated error (posterior mean under a weak prior: a route with more clean evidence goes first);
 * - calibration: certifies a prefix of that fixed order by fixed-sequence testing: the pooled Clopper-Pearson bound
 *   of the first k routes is tested for growing k at the full confidence, and the walk stops at the first failure.
 *   Because the order and the thresholds were fixed before the calibration split was looked at, the bound of the
 *   admitted prefix holds for fresh traffic from the same mix at the budget's confidence.
 */

/** One held-out query the router would send to this route: its similarity, and how wrong serving it would be. */
export interface AdmissionSample {
  similarity: number;
  /** 1 wrong, 0 right; a fraction where the judge's P(agree) is counted as expected error. */
  wrong: number;
  /**
   * How much nearer the query is to this route than to the nearest route serving a DIFFERENT answer (similarity
   * difference; Infinity when no other answer competes). Queries between two answers are where routing errs.
   */
  margin?: number;
}

export interface RouteCase {
  id: string;
  /**
   * The route's candidate thresholds, strictest first, one per level of a grid shared by all routes and chosen
   * WITHOUT labels (e.g. quantiles of the similarities of the route's own clustered queries to its centroid).
   */
  thresholds: ReadonlyArray<number>;
  screening: ReadonlyArray<AdmissionSample>;
  calibration: ReadonlyArray<AdmissionSample>;
}

export interface AdmittedRoute {
  id: string;
  threshold: number;
  /** Least margin over the nearest route of another answer (the same for all routes of a tenant). */
  margin: number;
  /** Calibration queries it served at its threshold, and the (expected) wrong ones among them. */
  n: number;
  errors: number;
  /** Screening estimate that fixed its place in the order. */
  estimate: number;
}

export interface Admission {
  /** Grid level chosen on the screening split; null when no route could be planned. */
  level: number | null;
  /** Margin chosen on the screening split (see AdmissionSample.margin). */
  margin: number | null;
  admitted: AdmittedRoute[];
  refused: Array<{ id: string; reason: string }>;
  /** Pooled calibration evidence of the admitted routes (the figure that goes into the manifest's evidence). */
  pooled: BudgetCheck;
  /** Why nothing (or nothing more) was admitted. */
  reason?: string;
}

export interface AdmissionOptions {
  /** Beta prior (a errors, b right) of a route's error rate for ordering; default Jeffreys (0.5, 0.5). */
  prior?: [number, number];
  /** Errors the first tested prefix may hold and still pass (default 2): where the walk starts, by size alone. */
  startTolerance?: number;
  /** Candidate least margins, tried with every threshold level (default [0]: nearest route only). */
  margins?: ReadonlyArray<number>;
  /**
   * How the calibration split certifies: 'walk' (default) tests growing prefixes of the screening order and stops at
   * the first failure; 'single' tests once, the prefix the screening split chose (its longest prefix within the
   * bound): no first-prefix fragility, but all or nothing.
   */
  certify?: 'walk' | 'single';
}

/** Longest prefix whose pooled bound holds (selection on the screening split, so no stopping rule is needed). */
function longestPassing(
  items: ReadonlyArray<{ n: number; errors: number }>,
  budget: ErrorBudget,
  start: number,
): { length: number; n: number; errors: number } {
  let n = 0;
  let errors = 0;
  let best = { length: 0, n: 0, errors: 0 };
  items.forEach((it, i) => {
    n += it.n;
    errors += it.errors;
    if (n >= start && errorUpperBound(errors, n, budget) <= budget.maxErrorRate) best = { length: i + 1, n, errors };
  });
  return best;
}

const served = (ss: ReadonlyArray<AdmissionSample>, t: number, m: number) => {
  let n = 0;
  let errors = 0;
  for (const s of ss) {
    if (s.similarity < t || (s.margin ?? Infinity) < m) continue;
    n++;
    errors += s.wrong;
  }
  return { n, errors };
};

/** The smallest pooled sample the walk tests first: enough to pass with `tolerance` errors (depends on sizes only). */
export function walkStart(budget: ErrorBudget = DEFAULT_BUDGET, tolerance = 2): number {
  let n = minCleanSample(budget);
  while (!withinBudget(Math.min(tolerance, n), n, budget).ok) n++;
  return n;
}

/**
 * Fixed-sequence walk over cumulative prefixes of `items` (in the given order): the longest prefix such that every
 * tested prefix up to it keeps the pooled bound; prefixes holding fewer than `start` samples are not tested (a
 * choice by size, never by labels). Returns how many items the admitted prefix holds.
 */
export function certifyPrefix(
  items: ReadonlyArray<{ n: number; errors: number }>,
  budget: ErrorBudget,
  start: number,
): { length: number; n: number; errors: number; failedAt?: { n: number; errors: number } } {
  let n = 0;
  let errors = 0;
  let best = { length: 0, n: 0, errors: 0 };
  for (let i = 0; i < items.length; i++) {
    n += items[i]!.n;
    errors += items[i]!.errors;
    if (n < start) continue;
    if (errorUpperBound(errors, n, budget) > budget.maxErrorRate) return { ...best, failedAt: { n, errors } };
    best = { length: i + 1, n, errors };
  }
  return best;
}

/** One test of a whole prefix fixed in advance: admitted entirely or not at all. */
function singleTest(
  items: ReadonlyArray<{ n: number; errors: number }>,
  budget: ErrorBudget,
): { length: number; n: number; errors: number; failedAt?: { n: number; errors: number } } {
  const n = items.reduce((a, it) => a + it.n, 0);
  const errors = items.reduce((a, it) => a + it.errors, 0);
  return errorUpperBound(errors, n, budget) <= budget.maxErrorRate
    ? { length: items.length, n, errors }
    : { length: 0, n: 0, errors: 0, failedAt: { n, errors } };
}

/** Screening plan at one level: routes that do not fail their own screening, ordered by estimated error. */
function plan(routes: ReadonlyArray<RouteCase>, level: number, margin: number, budget: ErrorBudget, prior: [number, number]) {
  const keep: Array<{ route: RouteCase; threshold: number; margin: number; estimate: number; n: number; errors: number }> = [];
  const refused: Array<{ id: string; reason: string }> = [];
  for (const r of routes) {
    const threshold = r.thresholds[Math.min(level, r.thresholds.length - 1)]!;
    const s = served(r.screening, threshold, margin);
    // A route whose own screening already shows more wrong than the budget allows is never averaged in.
    if (s.n > 0 && s.errors / s.n > budget.maxErrorRate) {
      refused.push({
        id: r.id,
        reason: `${s.errors.toFixed(1)} of ${s.n} screening queries served wrongly at ${threshold.toFixed(3)} (> ${(100 * budget.maxErrorRate).toFixed(2)}%)`,
      });
      continue;
    }
    keep.push({ route: r, threshold, margin, estimate: (s.errors + prior[0]) / (s.n + prior[0] + prior[1]), n: s.n, errors: s.errors });
  }
  keep.sort((a, b) => a.estimate - b.estimate || b.n - a.n || (a.route.id < b.route.id ? -1 : a.route.id > b.route.id ? 1 : 0));
  return { keep, refused };
}

/**
 * Chooses the threshold level and the routes to serve within the budget (see the module comment). The level is the
 * one whose screening walk would serve the most screening queries; the calibration split then certifies a prefix
 * of that level's order. Routes after the first failing prefix stay on the model.
 */
export function admitRoutes(routes: ReadonlyArray<RouteCase>, budget: ErrorBudget = DEFAULT_BUDGET, opts: AdmissionOptions = {}): Admission {
  const prior = opts.prior ?? [0.5, 0.5];
  const start = walkStart(budget, opts.startTolerance ?? 2);
  const levels = Math.max(0, ...routes.map((r) => r.thresholds.length));
  const single = opts.certify === 'single';
  let best: { level: number; margin: number; servedOnScreening: number; length: number } | null = null;
  for (const margin of opts.margins ?? [0]) {
    for (let level = 0; level < levels; level++) {
      const p = plan(routes, level, margin, budget, prior);
      const cut = single ? longestPassing(p.keep, budget, start) : certifyPrefix(p.keep, budget, start);
      if (cut.length > 0 && (!best || cut.n > best.servedOnScreening)) best = { level, margin, servedOnScreening: cut.n, length: cut.length };
    }
  }
  if (!best) {
    return {
      level: null,
      margin: null,
      admitted: [],
      refused: routes.map((r) => ({ id: r.id, reason: 'no threshold level keeps the budget on the screening split' })),
      pooled: withinBudget(0, 0, budget),
      reason: `no threshold level keeps the pooled screening bound within ${(100 * budget.maxErrorRate).toFixed(2)}% (at least ${start} screening queries needed)`,
    };
  }
  const p = plan(routes, best.level, best.margin, budget, prior);
  const onCal = p.keep.map((k) => ({ ...k, ...served(k.route.calibration, k.threshold, k.margin), estimate: k.estimate }));
  const cut = single ? singleTest(onCal.slice(0, best.length), budget) : certifyPrefix(onCal, budget, start);
  const admitted = onCal
    .slice(0, cut.length)
    .map((k) => ({ id: k.route.id, threshold: k.threshold, margin: k.margin, n: k.n, errors: k.errors, estimate: k.estimate }));
  const refused = [
    ...p.refused,
    ...onCal.slice(cut.length).map((k) => ({
      id: k.route.id,
      reason: cut.failedAt
        ? `after the first failing prefix (${cut.failedAt.errors.toFixed(1)} wrong of ${cut.failedAt.n})`
        : `pooled calibration queries < ${start}`,
    })),
  ];
  return {
    level: best.level,
    margin: best.margin,
    admitted,
    refused,
    pooled: withinBudget(Math.min(cut.errors, cut.n), cut.n, budget),
    ...(cut.length === 0
      ? {
          reason: cut.failedAt
            ? `the first tested prefix already bounds P(wrong) above the budget (${cut.failedAt.errors.toFixed(1)} wrong of ${cut.failedAt.n})`
            : `pooled calibration queries < ${start}`,
        }
      : {}),
  };
}

/**
 * A route's label-free threshold grid: quantiles of its own clustered queries' similarities to its centroid
 * (strict to loose), then a few steps below its loosest member. The same grid serves every tenant and data set.
 */
export const DEFAULT_QUANTILES = [0.5, 0.3, 0.2, 0.1, 0.05, 0] as const;
export const DEFAULT_BELOW = [0.03, 0.06, 0.1] as const;

export function thresholdGrid(
  memberSimilarities: ReadonlyArray<number>,
  quantiles: ReadonlyArray<number> = DEFAULT_QUANTILES,
  below: ReadonlyArray<number> = DEFAULT_BELOW,
): number[] {
  if (memberSimilarities.length === 0)
    throw new Error('thresholdGrid: a route needs the similarities of at least one clustered query (memberSimilarities is empty)');
  const s = [...memberSimilarities].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.floor(p * (s.length - 1))))]!;
  const grid = [...quantiles.map(q), ...below.map((d) => s[0]! - d)];
  // Strict to loose, never tighter than a previous level.
  for (let i = 1; i < grid.length; i++) grid[i] = Math.min(grid[i]!, grid[i - 1]!);
  return grid;
}
