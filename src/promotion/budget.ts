import { InputError } from '../errors';

/**
 * The tenant's one error budget: at most `maxErrorRate` of served answers wrong, as a one-sided upper confidence
 * bound at `confidence`. Graduation, replay and every route threshold are chosen to stay inside it.
 */
export interface ErrorBudget {
  maxErrorRate: number;
  confidence: number;
  /**
   * How the upper bound is computed. Clopper-Pearson (exact) is the default: it never under-covers, which matters
   * here because promotion lives at 0-3 errors, exactly where Wilson's interval is known to be too narrow.
   */
  method: 'clopper-pearson' | 'wilson';
}

export const DEFAULT_BUDGET: ErrorBudget = { maxErrorRate: 0.01, confidence: 0.95, method: 'clopper-pearson' };

/** Checks a budget a tenant configured, naming the field and the fix. */
export function validateBudget(b: ErrorBudget): ErrorBudget {
  if (!(b.maxErrorRate > 0 && b.maxErrorRate < 1)) throw new InputError('budget.maxErrorRate', `must be in (0, 1), e.g. 0.01 for 1%; got ${b.maxErrorRate}`);
  if (!(b.confidence > 0.5 && b.confidence < 1)) throw new InputError('budget.confidence', `must be in (0.5, 1), e.g. 0.95; got ${b.confidence}`);
  if (b.method !== 'clopper-pearson' && b.method !== 'wilson')
    throw new InputError('budget.method', `must be 'clopper-pearson' or 'wilson'; got ${String(b.method)}`);
  return b;
}

/** Lower end of the Wilson score interval (95%) for k successes in n trials. */
export function wilsonLowerBound(k: number, n: number, z = 1.96): number {
  if (n === 0) return 0;
  const p = k / n;
  const z2 = z * z;
  return Math.max(0, (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n));
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9): the one-sided z of a confidence. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`normalQuantile: p must be in (0, 1); got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/** One-sided Wilson upper bound of an error rate: the verify.ts lower bound of the success rate, mirrored. */
export function wilsonUpperBound(errors: number, n: number, confidence = 0.95): number {
  if (n === 0) return 1;
  return 1 - wilsonLowerBound(n - errors, n, normalQuantile(confidence));
}

/** P(X <= k) for X ~ Binomial(n, p), summed in log space so n in the tens of thousands stays exact enough. */
function binomialCdf(k: number, n: number, p: number): number {
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  let logTerm = n * Math.log1p(-p); // P(X = 0)
  let sum = Math.exp(logTerm);
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log((n - i + 1) / i) + Math.log(p) - Math.log1p(-p);
    sum += Math.exp(logTerm);
  }
  return Math.min(1, sum);
}

/**
 * One-sided Clopper-Pearson upper bound: the error rate p at which seeing `errors` or fewer in `n` has probability
 * 1 - confidence. Found by bisection on the binomial CDF (decreasing in p); fractional errors round up.
 */
export function clopperPearsonUpperBound(errors: number, n: number, confidence = 0.95): number {
  if (n === 0) return 1;
  const k = Math.ceil(errors - 1e-9);
  if (k >= n) return 1;
  if (k === 0) return 1 - (1 - confidence) ** (1 / n);
  let lo = k / n;
  let hi = 1;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > 1 - confidence) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The budget's LOWER bound on the error rate: what the evidence says at least is wrong (0 with no errors). */
export function errorLowerBound(errors: number, n: number, budget: ErrorBudget = DEFAULT_BUDGET): number {
  if (n === 0 || errors <= 0) return 0;
  return 1 - errorUpperBound(n - errors, n, budget);
}

/** The budget's upper bound on the error rate for `errors` wrong out of `n` judged. */
export function errorUpperBound(errors: number, n: number, budget: ErrorBudget = DEFAULT_BUDGET): number {
  return budget.method === 'wilson' ? wilsonUpperBound(errors, n, budget.confidence) : clopperPearsonUpperBound(errors, n, budget.confidence);
}

export interface BudgetCheck {
  ok: boolean;
  n: number;
  errors: number;
  rate: number;
  bound: number;
  budget: ErrorBudget;
}

/** Whether `errors` wrong out of `n` judged keeps the bound within the budget; the figures go into evidence. */
export function withinBudget(errors: number, n: number, budget: ErrorBudget = DEFAULT_BUDGET): BudgetCheck {
  if (!(errors >= 0) || !(n >= 0) || errors > n) throw new Error(`withinBudget: need 0 <= errors <= n; got errors=${errors}, n=${n}`);
  const bound = errorUpperBound(errors, n, budget);
  return { ok: n > 0 && bound <= budget.maxErrorRate, n, errors, rate: n ? errors / n : 0, bound, budget };
}

/**
 * Fewest judged answers a clean record (0 errors) needs to clear the budget: the least evidence any promotion can
 * stand on (299 at 1% / 95% Clopper-Pearson, 268 with Wilson).
 */
export function minCleanSample(budget: ErrorBudget = DEFAULT_BUDGET): number {
  let n = 1;
  while (!withinBudget(0, n, budget).ok) n *= 2;
  let lo = Math.floor(n / 2);
  while (lo + 1 < n) {
    const mid = (lo + n) >> 1;
    if (withinBudget(0, mid, budget).ok) n = mid;
    else lo = mid;
  }
  return n;
}

export interface BudgetItem {
  id: string;
  errors: number;
  n: number;
}

/**
 * Which items (candidates, routes) can be promoted together while the tenant's served error rate stays within the
 * budget. The budget is a bound on all served traffic, so evidence pools: items are admitted cleanest first
 * (lowest error rate, then most evidence) while the pooled bound holds. A single item whose own error rate exceeds
 * the budget is never admitted, however clean the rest: averaging must not hide a bad route. Held-out samples are a
 * fixed share of each item's traffic, so pooled counts weigh items by their traffic as serving does.
 */
export function selectWithinBudget<T extends BudgetItem>(
  items: ReadonlyArray<T>,
  budget: ErrorBudget = DEFAULT_BUDGET,
): { admitted: T[]; refused: Array<T & { reason: string }>; pooled: BudgetCheck } {
  const order = [...items].sort((a, b) => a.errors / Math.max(a.n, 1) - b.errors / Math.max(b.n, 1) || b.n - a.n || a.id.localeCompare(b.id));
  const admitted: T[] = [];
  const refused: Array<T & { reason: string }> = [];
  let errors = 0;
  let n = 0;
  for (const it of order) {
    if (it.n === 0) {
      refused.push({ ...it, reason: 'no held-out answers judged' });
      continue;
    }
    if (it.errors / it.n > budget.maxErrorRate) {
      refused.push({ ...it, reason: `error rate ${((100 * it.errors) / it.n).toFixed(2)}% > budget ${(100 * budget.maxErrorRate).toFixed(2)}%` });
      continue;
    }
    // The pooled bound can only clear once enough clean evidence has accumulated: admit provisionally, prune below.
    admitted.push(it);
    errors += it.errors;
    n += it.n;
  }
  // Drop the dirtiest admitted items until the pooled bound holds (or nothing is left).
  while (admitted.length && !withinBudget(errors, n, budget).ok) {
    const worst = admitted.pop()!;
    errors -= worst.errors;
    n -= worst.n;
    refused.push({ ...worst, reason: `pooled bound ${(100 * errorUpperBound(errors + worst.errors, n + worst.n, budget)).toFixed(2)}% > budget with it` });
  }
  return { admitted, refused, pooled: withinBudget(errors, n, budget) };
}
