import { DEFAULT_BUDGET, type ErrorBudget, errorLowerBound } from '../promotion/budget';
import { normaliseAnswer } from '../serving/answer';
import type { Resolution, TierName } from '../serving/manifest';

export type Prices = Record<TierName, { model: string; inputPerMTok: number; outputPerMTok: number; perCall: number }>;

/** One logged interaction of the held-out slice: the query, its embedding, the accepted answer and its tokens. */
export interface ReplayRow {
  query: string;
  vector: Float32Array;
  answer: string;
  promptTokens: number;
  completionTokens: number;
}

export interface ReplayPolicy {
  /**
   * The tenant's error budget: a template answer counts right at P(agree) >= 1 - maxErrorRate (the level graduation
   * admits at), and the replay refuses when even the lower confidence bound of the templates' error rate exceeds it
   * (graduation certified the upper bound on far more evidence than one replay slice holds).
   */
  budget: ErrorBudget;
  /** Overall projected quality may not fall more than this below the manifest in service. */
  maxQualityDrop: number;
  /** Overall projected quality floor. */
  minQuality: number;
  /** Quality assumed for the cheap tier when nothing better is known (frontier is the reference: 1). */
  cheapQuality: number;
}

/**
 * The replay policy of a tenant's error budget. The budget is the tenant's tolerance for wrong answers, so it also
 * bounds how much projected quality a new manifest may give up against the one in service, and (for budgets above
 * 5%) the floor: a fixed drop of 0.01 would refuse a 10%-budget tenant's adapter for a change its budget allows, on
 * nothing more than the noise between two replay slices.
 */
export function replayPolicyFor(budget: ErrorBudget): ReplayPolicy {
  return { budget, maxQualityDrop: budget.maxErrorRate, minQuality: Math.min(0.95, 1 - budget.maxErrorRate), cheapQuality: 0.9 };
}

export const DEFAULT_REPLAY_POLICY: ReplayPolicy = replayPolicyFor(DEFAULT_BUDGET);

/** P(agree) of a served answer with the accepted one: the judge's; by default normalised equality (1 or 0). */
export type AnswerAgreement = (served: string, accepted: string) => number;
const sameNormalised: AnswerAgreement = (a, b) => (normaliseAnswer(a) === normaliseAnswer(b) ? 1 : 0);

export interface ReplayReport {
  rows: number;
  perTier: Record<TierName, { calls: number; share: number; cost: number }>;
  /** What the slice cost with every call on the frontier model, and what it would cost with this manifest. */
  allFrontierCost: number;
  projectedCost: number;
  /** 1 − projected / all-frontier. */
  reduction: number;
  quality: {
    template: { served: number; agreed: number; rate: number; errorLowerBound?: number; judge?: string };
    /** Adapters are not run at replay: their gate figure (student vs teacher on the eval split) is projected. */
    /** `projected` mixes the judged real answers (`measured`: rows the adapter server answered) and gate figures. */
    adapter: { served: number; projected: number; measured?: { rows: number; agreed: number } };
    overall: number;
  };
  passed: boolean;
  reasons: string[];
}

/** USD of one call at a tier's prices (the gateway's savings use it too). */
export const callCost = (p: Prices[TierName], r: Pick<ReplayRow, 'promptTokens' | 'completionTokens'>) =>
  (r.promptTokens * p.inputPerMTok + r.completionTokens * p.outputPerMTok) / 1e6 + p.perCall;

/**
 * Replays logged traffic through a candidate manifest: where each query would go, what that would cost (prices per
 * tier), and how good the answers would be (templates measured against the accepted answers, adapters projected
 * from their gate evidence, frontier the reference). Judged by policy, against the quality of the manifest in service.
 */
export function replayManifest(
  rows: ReadonlyArray<ReplayRow>,
  /** Where row `index` goes (rows with the same masked query may share one vector object: resolve by index). */
  resolve: (vector: Float32Array, query: string, index: number) => Resolution,
  prices: Prices,
  opts: {
    adapterQuality: (adapter: string) => number | undefined;
    /** Row index → P(agree) of the student's real answer (the adapter server's); the gate's figure for rows without. */
    adapterAgreement?: (index: number) => number | undefined;
    /** A cheap route's measured agreement (its cheap-model trial); the policy's cheapQuality when none. */
    cheapQuality?: (routeId: string | null) => number | undefined;
    agreement?: AnswerAgreement;
    /** Names the judge behind `agreement`, for the report. */
    judge?: string;
    policy?: ReplayPolicy;
    inServiceQuality?: number | null;
  },
): ReplayReport {
  const policy = opts.policy ?? DEFAULT_REPLAY_POLICY;
  const agreement = opts.agreement ?? sameNormalised;
  const rightAt = 1 - policy.budget.maxErrorRate;
  const perTier = {
    template: { calls: 0, share: 0, cost: 0 },
    adapter: { calls: 0, share: 0, cost: 0 },
    cheap: { calls: 0, share: 0, cost: 0 },
    frontier: { calls: 0, share: 0, cost: 0 },
  };
  let allFrontier = 0;
  let qualitySum = 0;
  let templateAgreed = 0;
  let adapterQualitySum = 0;
  let studentRun = 0;
  let studentAgreed = 0;
  const reasons: string[] = [];
  for (const [i, r] of rows.entries()) {
    const res = resolve(r.vector, r.query, i);
    allFrontier += callCost(prices.frontier, r);
    const t = perTier[res.tier];
    t.calls++;
    t.cost += callCost(prices[res.tier], r);
    if (res.tier === 'template' && res.toolScript) {
      // A tool script needs the application's tools, which the publisher has not: it was verified by trace replay
      // at graduation and approved on that evidence, so here it counts as agreeing.
      templateAgreed++;
      qualitySum += 1;
    } else if (res.tier === 'template') {
      const ok = res.answer !== undefined && agreement(res.answer, r.answer) >= rightAt;
      if (ok) templateAgreed++;
      qualitySum += ok ? 1 : 0;
    } else if (res.tier === 'adapter') {
      // The student's real answer, judged, where the adapter server answered; else the gate's figure.
      const p = opts.adapterAgreement?.(i);
      const q = p !== undefined ? (p >= rightAt ? 1 : 0) : (opts.adapterQuality(res.adapter!.adapter) ?? 0);
      if (p !== undefined) [studentRun, studentAgreed] = [studentRun + 1, studentAgreed + q];
      adapterQualitySum += q;
      qualitySum += q;
    } else qualitySum += res.tier === 'cheap' ? (opts.cheapQuality?.(res.routeId) ?? policy.cheapQuality) : 1;
  }
  const n = rows.length;
  for (const t of Object.values(perTier)) t.share = n ? t.calls / n : 0;
  const projected = Object.values(perTier).reduce((a, t) => a + t.cost, 0);
  const overall = n ? qualitySum / n : 1;
  const templateRate = perTier.template.calls ? templateAgreed / perTier.template.calls : 1;
  const wrongAtLeast = errorLowerBound(perTier.template.calls - templateAgreed, perTier.template.calls, policy.budget);
  if (wrongAtLeast > policy.budget.maxErrorRate)
    reasons.push(
      `template answers: ${perTier.template.calls - templateAgreed} of ${perTier.template.calls} disagree with the accepted ones, at least ${(100 * wrongAtLeast).toFixed(2)}% wrong (${(100 * policy.budget.confidence).toFixed(0)}% bound) > the ${(100 * policy.budget.maxErrorRate).toFixed(2)}% budget`,
    );
  if (overall < policy.minQuality) reasons.push(`projected quality ${overall.toFixed(3)} < ${policy.minQuality}`);
  if (opts.inServiceQuality != null && overall < opts.inServiceQuality - policy.maxQualityDrop) {
    reasons.push(
      `projected quality ${overall.toFixed(3)} is more than ${policy.maxQualityDrop} below the manifest in service (${opts.inServiceQuality.toFixed(3)})`,
    );
  }
  return {
    rows: n,
    perTier,
    allFrontierCost: allFrontier,
    projectedCost: projected,
    reduction: allFrontier ? 1 - projected / allFrontier : 0,
    quality: {
      template: {
        served: perTier.template.calls,
        agreed: templateAgreed,
        rate: templateRate,
        errorLowerBound: wrongAtLeast,
        judge: opts.judge ?? 'normalised-match',
      },
      adapter: {
        served: perTier.adapter.calls,
        projected: perTier.adapter.calls ? adapterQualitySum / perTier.adapter.calls : 0,
        ...(studentRun ? { measured: { rows: studentRun, agreed: studentAgreed } } : {}),
      },
      overall,
    },
    passed: reasons.length === 0,
    reasons,
  };
}
