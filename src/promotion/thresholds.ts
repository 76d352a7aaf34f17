import { DEFAULT_BUDGET, type ErrorBudget, errorUpperBound, minCleanSample, withinBudget } from './budget';

/** A held-out query the router would send to this route (it is the nearest): its similarity, and whether serving
 * this route's answer to it is right (judged against the query's accepted answer, or from no route: wrong). */
export interface RouteSample {
  similarity: number;
  correct: boolean;
  /** own | neighbour | none: where the query came from, for the evidence only. */
  origin?: 'own' | 'neighbour' | 'none';
}

/** What a route's threshold rests on, kept in the route's evidence. */
export interface ThresholdCalibration {
  /** Serve when similarity >= threshold; null: no threshold keeps the bound (the route stays on the model). */
  threshold: number | null;
  /** Held-out queries at or above the threshold, and the wrong ones among them. */
  n: number;
  errors: number;
  /** Upper bound of P(wrong route | served) at the threshold. */
  bound: number;
  /** Share of this route's own correct queries the threshold serves. */
  recall: number;
  tested: number;
  byOrigin: Record<string, { n: number; served: number; wrong: number }>;
  budget: ErrorBudget;
  reason?: string;
}

/**
 * The loosest similarity threshold of one route such that the upper bound of P(wrong | served) stays within the
 * budget, by fixed-sequence testing: candidate thresholds are walked from strict to loose in an order fixed by the
 * similarities alone (never by the labels), starting where the served set first holds enough queries to tolerate a
 * couple of errors, and the walk stops at the first threshold whose bound exceeds the budget. Stopping at the first failure is what
 * keeps the guarantee: each threshold is tested at the full confidence, with no multiple-testing penalty, and the
 * chosen one holds on fresh traffic from the same mix with the budget's confidence. Picking the loosest passing
 * threshold anywhere in the scan would not.
 */
export function calibrateRouteThreshold(
  samples: ReadonlyArray<RouteSample>,
  budget: ErrorBudget = DEFAULT_BUDGET,
  opts: { startTolerance?: number } = {},
): ThresholdCalibration {
  const sorted = [...samples].sort((a, b) => b.similarity - a.similarity);
  const byOrigin: ThresholdCalibration['byOrigin'] = {};
  for (const s of sorted) {
    const o = (byOrigin[s.origin ?? 'own'] ??= { n: 0, served: 0, wrong: 0 });
    o.n++;
  }
  const ownCorrect = sorted.filter((s) => s.correct).length;
  const clean = minCleanSample(budget);
  const base = { tested: sorted.length, byOrigin, budget };
  if (sorted.length < clean) {
    return {
      ...base,
      threshold: null,
      n: 0,
      errors: 0,
      bound: 1,
      recall: 0,
      reason: `${sorted.length} held-out queries < ${clean}, the fewest that can show the budget even with no errors`,
    };
  }
  // Where the walk starts: the fewest queries that still clear the budget with `startTolerance` errors (default 2),
  // so one stray mislabel among the most similar queries does not end the walk before it began. The start depends
  // on the sample size only, never on the labels.
  // Never past half the samples, so the walk has room to loosen.
  const tolerance = opts.startTolerance ?? 2;
  const cap = Math.max(clean, Math.floor(sorted.length / 2));
  let start = clean;
  while (start < cap && !withinBudget(tolerance, start, budget).ok) start++;
  let chosen = -1;
  let errors = 0;
  let errorsAtChosen = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (!sorted[i]!.correct) errors++;
    // Only whole similarity values are thresholds: all samples tied at a value are served together.
    if (i + 1 < sorted.length && sorted[i + 1]!.similarity === sorted[i]!.similarity) continue;
    if (i + 1 < start) continue;
    if (errorUpperBound(errors, i + 1, budget) > budget.maxErrorRate) break;
    chosen = i;
    errorsAtChosen = errors;
  }
  if (chosen < 0) {
    const b = errorUpperBound(sorted.slice(0, start).filter((s) => !s.correct).length, start, budget);
    return {
      ...base,
      threshold: null,
      n: 0,
      errors: 0,
      bound: b,
      recall: 0,
      reason: `the ${start} most similar held-out queries already bound P(wrong) at ${(100 * b).toFixed(2)}% > ${(100 * budget.maxErrorRate).toFixed(2)}%`,
    };
  }
  for (const s of sorted.slice(0, chosen + 1)) {
    const o = byOrigin[s.origin ?? 'own']!;
    o.served++;
    if (!s.correct) o.wrong++;
  }
  const served = chosen + 1;
  return {
    ...base,
    threshold: sorted[chosen]!.similarity,
    n: served,
    errors: errorsAtChosen,
    bound: errorUpperBound(errorsAtChosen, served, budget),
    recall: ownCorrect ? (served - errorsAtChosen) / ownCorrect : 0,
  };
}

/**
 * Thresholds for all of a tenant's served routes. A route with enough held-out queries of its own is calibrated
 * alone; the rest cannot show a 1% bound by themselves (fewer than minCleanSample queries) and are calibrated as one
 * group over their pooled samples, so each gets the group's threshold and the group's evidence. Every served
 * query then falls under a calibration whose bound is within the budget.
 */
export function calibrateRouteThresholds(
  routes: ReadonlyArray<{ id: string; samples: ReadonlyArray<RouteSample> }>,
  budget: ErrorBudget = DEFAULT_BUDGET,
): Map<string, ThresholdCalibration & { pooled: boolean }> {
  const start = minCleanSample(budget);
  const out = new Map<string, ThresholdCalibration & { pooled: boolean }>();
  const small: (typeof routes)[number][] = [];
  for (const r of routes) {
    // A route that can be judged alone and fails stays on the model: pooling must not dilute a bad route.
    if (r.samples.length >= start) out.set(r.id, { ...calibrateRouteThreshold(r.samples, budget), pooled: false });
    else small.push(r);
  }
  if (small.length) {
    const group = calibrateRouteThreshold(
      small.flatMap((r) => r.samples),
      budget,
    );
    for (const r of small) out.set(r.id, { ...group, pooled: true });
  }
  return out;
}

/**
 * Which routes may enter threshold calibration at all: those whose own screening samples (a split of the held-out
 * queries disjoint from the calibration split) show an error rate within the budget. A route that clusters two
 * intents wrongs its neighbours' queries even at high similarity; pooled with clean routes it would either hide
 * in the pool or end the pooled walk for everyone. Screening on a separate split keeps the calibration's bound
 * free of the selection (routes kept because they looked clean by chance are then measured afresh).
 */
export function screenRoutes(
  routes: ReadonlyArray<{ id: string; samples: ReadonlyArray<RouteSample> }>,
  budget: ErrorBudget = DEFAULT_BUDGET,
): { eligible: Set<string>; refused: Array<{ id: string; reason: string }> } {
  const eligible = new Set<string>();
  const refused: Array<{ id: string; reason: string }> = [];
  for (const r of routes) {
    const wrong = r.samples.filter((s) => !s.correct).length;
    if (r.samples.length === 0) refused.push({ id: r.id, reason: 'no screening queries' });
    else if (wrong / r.samples.length > budget.maxErrorRate)
      refused.push({ id: r.id, reason: `${wrong} of ${r.samples.length} screening queries served wrongly (> ${(100 * budget.maxErrorRate).toFixed(2)}%)` });
    else eligible.add(r.id);
  }
  return { eligible, refused };
}
