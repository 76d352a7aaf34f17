import { DEFAULT_BUDGET, type BudgetCheck, type ErrorBudget, errorUpperBound, minCleanSample, withinBudget } from './budget';

/**
 * Admission of routes under the tenant's ONE error budget. The budget bounds the error rate of everything served,
 * so evidence pools over routes; what must not happen is that the data which chose the routes (and their
 * thresholds) also certifies them. Held-out queries are therefore split in two, by a hash the labels never touch:
 * - screening: cuts every route into steps along its label-free threshold grid (its queries between two levels),
 *   drops the steps from the first one it serves wrongly, and orders all routes' steps by estimated error (posterior
 *   mean under a weak prior: a step with more clean evidence goes first; a route's looser step after its stricter);
 * - calibration: certifies a prefix of that fixed order by fixed-sequence testing: the pooled Clopper-Pearson bound
 *   of the first k steps is tested at sizes fixed in advance, at the full confidence, and the walk stops at the first
 *   failure. Because the order was fixed before the calibration split was looked at, the bound of the admitted
 *   prefix holds for fresh traffic from the same mix at the budget's confidence. Each route serves down to its
 *   loosest admitted step, so the safest queries of every route are certified before any route's looser ones.
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
  /** The loosest grid level any admitted route serves down to; null when nothing is admitted. */
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

/** The smallest pooled sample the walk tests first: enough to pass with `tolerance` errors (depends on sizes only). */
export function walkStart(budget: ErrorBudget = DEFAULT_BUDGET, tolerance = 2, from = 0): number {
  const passes = (n: number) => withinBudget(Math.min(tolerance, n), n, budget).ok;
  // The bound falls as n grows (errors fixed): double past the answer, then bisect.
  let lo = Math.max(from, minCleanSample(budget));
  if (passes(lo)) return lo;
  let hi = 2 * lo;
  while (!passes(hi)) [lo, hi] = [hi, 2 * hi];
  while (lo + 1 < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (passes(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Fixed-sequence walk over cumulative prefixes of `items` (in the given order), tested at sizes fixed in advance:
 * first where the prefix reaches `walkStart(budget, tolerance)` samples, then each time it reaches the size that
 * could pass with one more error, and at every prefix past the last such size the sequence reaches. The admitted
 * prefix is the longest tested one such that every test up to it kept the pooled bound; the walk stops at the first
 * failure. Testing at sizes (never at labels) keeps the procedure valid, and testing only where one more error is
 * affordable means a single wrong answer just past a passing prefix does not end a walk that more clean evidence
 * would carry.
 */
export function certifyPrefix(
  items: ReadonlyArray<{ n: number; errors: number }>,
  budget: ErrorBudget,
  tolerance = 0,
): { length: number; n: number; errors: number; failedAt?: { n: number; errors: number } } {
  const total = items.reduce((a, it) => a + it.n, 0);
  const start = walkStart(budget, tolerance);
  let n = 0;
  let errors = 0;
  let best = { length: 0, n: 0, errors: 0 };
  let k = tolerance;
  let need = start;
  for (let i = 0; i < items.length; i++) {
    n += items[i]!.n;
    errors += items[i]!.errors;
    // Past the last size the whole sequence can reach, every prefix is tested: the tail is admitted up to its first
    // error instead of all or nothing (sizes alone decide which prefixes are tested).
    const tail = n >= start && total < need;
    if (n < need && !tail) continue;
    if (errorUpperBound(errors, n, budget) > budget.maxErrorRate) return { ...best, failedAt: { n, errors } };
    best = { length: i + 1, n, errors };
    while (need <= n) need = walkStart(budget, ++k, need);
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

/**
 * One step of the walk: a route's queries between two neighbouring levels of its threshold grid (level 0: at or
 * above its strictest threshold). Serving a step means serving the route down to that step's threshold.
 */
interface Step {
  route: RouteCase;
  /** Its place among its route's steps (strict to loose), and the grid level whose threshold it serves down to. */
  index: number;
  level: number;
  threshold: number;
  /** Posterior mean error of the step's screening queries (what fixes its place in the order). */
  estimate: number;
  screening: { n: number; errors: number };
  calibration: { n: number; errors: number };
}

const band = (ss: ReadonlyArray<AdmissionSample>, lo: number, hi: number, margin: number) => {
  let n = 0;
  let errors = 0;
  for (const s of ss) {
    if (s.similarity < lo || s.similarity >= hi || (s.margin ?? Infinity) < margin) continue;
    n++;
    errors += s.wrong;
  }
  return { n, errors };
};

/**
 * The screening plan: every route's steps, strict to loose, in one order fixed by the screening split alone. A
 * route's steps stop before the first whose screening queries are served wrongly more often than the budget allows;
 * the steps of all routes are then ordered by estimated error (a step with more clean evidence goes first), a
 * route's looser step never before its stricter ones. The walk thus tests the safest queries of every route first,
 * and reaches a route's looser queries, where routing errs, only once evidence has accumulated.
 */
function plan(routes: ReadonlyArray<RouteCase>, margin: number, budget: ErrorBudget, prior: [number, number]) {
  const refused: Array<{ id: string; reason: string }> = [];
  const byRoute: Step[][] = [];
  for (const r of routes) {
    const steps: Step[] = [];
    let upper = Infinity;
    for (let level = 0; level < r.thresholds.length; level++) {
      const threshold = r.thresholds[level]!;
      if (threshold >= upper) continue;
      const screening = band(r.screening, threshold, upper, margin);
      // A step whose own screening already shows more wrong than the budget allows is never averaged in.
      if (screening.n > 0 && screening.errors / screening.n > budget.maxErrorRate) {
        if (!steps.length)
          refused.push({
            id: r.id,
            reason: `${screening.errors.toFixed(1)} of ${screening.n} screening queries served wrongly at ${threshold.toFixed(3)} (> ${(100 * budget.maxErrorRate).toFixed(2)}%)`,
          });
        break;
      }
      const estimate = (screening.errors + prior[0]) / (screening.n + prior[0] + prior[1]);
      steps.push({ route: r, index: steps.length, level, threshold, estimate, screening, calibration: band(r.calibration, threshold, upper, margin) });
      upper = threshold;
    }
    if (steps.length) byRoute.push(steps);
  }
  const all = byRoute.flat();
  const rank = (a: Step, b: Step) =>
    a.estimate - b.estimate || b.screening.n - a.screening.n || a.level - b.level || (a.route.id < b.route.id ? -1 : a.route.id > b.route.id ? 1 : 0);
  all.sort(rank);
  // Emit in rank order, holding a step back until its route's stricter steps are out.
  const emitted = new Map<string, number>();
  const held = new Map<string, Map<number, Step>>();
  const order: Step[] = [];
  for (const st of all) {
    const id = st.route.id;
    if (st.index !== (emitted.get(id) ?? 0)) {
      held.set(id, (held.get(id) ?? new Map<number, Step>()).set(st.index, st));
      continue;
    }
    for (let cur: Step | undefined = st; cur; cur = held.get(id)?.get(cur.index + 1)) {
      order.push(cur);
      emitted.set(id, cur.index + 1);
    }
  }
  return { order, refused };
}

/**
 * Chooses the routes to serve and each one's threshold within the budget (see the module comment). The screening
 * split fixes the order of steps (plan) and, where several margins are offered, the margin whose screening walk
 * serves the most; the calibration split then certifies a prefix of that order. A route serves down to the
 * threshold of its loosest admitted step; routes with no admitted step stay on the model.
 */
export function admitRoutes(routes: ReadonlyArray<RouteCase>, budget: ErrorBudget = DEFAULT_BUDGET, opts: AdmissionOptions = {}): Admission {
  const prior = opts.prior ?? [0.5, 0.5];
  const tolerance = opts.startTolerance ?? 2;
  const start = walkStart(budget, tolerance);
  const single = opts.certify === 'single';
  let best: { margin: number; servedOnScreening: number; length: number } | null = null;
  for (const margin of opts.margins ?? [0]) {
    const p = plan(routes, margin, budget, prior);
    const onScreening = p.order.map((st) => st.screening);
    const cut = single ? longestPassing(onScreening, budget, start) : certifyPrefix(onScreening, budget, tolerance);
    if (cut.length > 0 && (!best || cut.n > best.servedOnScreening)) best = { margin, servedOnScreening: cut.n, length: cut.length };
  }
  if (!best) {
    return {
      level: null,
      margin: null,
      admitted: [],
      refused: routes.map((r) => ({ id: r.id, reason: 'no route keeps the budget on the screening split' })),
      pooled: withinBudget(0, 0, budget),
      reason: `no order of routes keeps the pooled screening bound within ${(100 * budget.maxErrorRate).toFixed(2)}% (at least ${start} screening queries needed)`,
    };
  }
  const p = plan(routes, best.margin, budget, prior);
  const onCal = p.order.map((st) => st.calibration);
  const cut = single ? singleTest(onCal.slice(0, best.length), budget) : certifyPrefix(onCal, budget, tolerance);
  const admittedSteps = p.order.slice(0, cut.length);
  const byId = new Map<string, Step[]>();
  for (const st of admittedSteps) byId.set(st.route.id, [...(byId.get(st.route.id) ?? []), st]);
  const admitted = [...byId.values()].map((steps): AdmittedRoute => {
    const loosest = steps[steps.length - 1]!;
    const sum = (f: (st: Step) => { n: number; errors: number }) =>
      steps.reduce((a, st) => ({ n: a.n + f(st).n, errors: a.errors + f(st).errors }), { n: 0, errors: 0 });
    const cal = sum((st) => st.calibration);
    const scr = sum((st) => st.screening);
    return {
      id: loosest.route.id,
      threshold: loosest.threshold,
      margin: best.margin,
      n: cal.n,
      errors: cal.errors,
      estimate: (scr.errors + prior[0]) / (scr.n + prior[0] + prior[1]),
    };
  });
  const refused = [
    ...p.refused,
    ...routes
      .filter((r) => !byId.has(r.id) && !p.refused.some((x) => x.id === r.id))
      .map((r) => ({
        id: r.id,
        reason: cut.failedAt
          ? `after the first failing prefix (${cut.failedAt.errors.toFixed(1)} wrong of ${cut.failedAt.n})`
          : `pooled calibration queries < ${start}`,
      })),
  ];
  return {
    level: admittedSteps.length ? Math.max(...admittedSteps.map((st) => st.level)) : null,
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
