import { createHash } from 'node:crypto';
import type { Example, Proposal } from './induce';
import { type ErrorBudget, wilsonLowerBound } from '../promotion/budget';
import { normaliseAnswer } from '../serving/answer';
import { renderAnswer } from '../serving/render';

export type MatchMode = 'exact' | 'normalised' | 'semantic' | 'judged';

/** What a candidate must show on replay before a reviewer ever sees it. */
export interface GraduationPolicy {
  /** Share of a cluster's accepted interactions held out for replay (never used for induction). */
  holdoutFraction: number;
  /** Fewest accepted interactions a cluster needs before graduation is tried. */
  minExamples: number;
  /** How a rendered answer must agree with the accepted one to count. */
  match: MatchMode;
  /** Cosine between rendered and accepted answer embeddings that counts as agreement in `semantic` mode. */
  semanticThreshold: number;
  minPrecision: number;
  /** Lower end of the 95% Wilson interval of precision. */
  minPrecisionLowerBound: number;
  /** Share of held-out queries the candidate must be able to render (all slots bound). */
  minCoverage: number;
  /** Most neighbour-cluster queries the router would send here and the candidate would answer wrongly. */
  maxFalsePositiveRate: number;
}

export const DEFAULT_POLICY: GraduationPolicy = {
  holdoutFraction: 0.3,
  minExamples: 20,
  match: 'normalised',
  semanticThreshold: 0.92,
  minPrecision: 0.98,
  minPrecisionLowerBound: 0.85,
  minCoverage: 0.9,
  maxFalsePositiveRate: 0.01,
};

export interface ReplayRow {
  id: number;
  query: string;
  accepted: string;
  /** Absent when the candidate could not render for this query (e.g. a slot with no value). */
  rendered?: string;
  error?: string;
  exact: boolean;
  normalised: boolean;
  /** Cosine of rendered and accepted answer embeddings, when an answer similarity was given. */
  semantic?: number;
  agrees: boolean;
}

export interface Evidence {
  match: MatchMode;
  heldOut: number;
  covered: number;
  agreed: number;
  precision: number;
  precisionLowerBound: number;
  coverage: number;
  exactRate: number;
  normalisedRate: number;
  semanticMean: number | null;
  falsePositives: { tested: number; routedHere: number; wrong: number; rate: number; examples: ReplayRow[] };
  /** Held-out replays, disagreements first (at most 25): what the review page diffs. */
  examples: ReplayRow[];
  passed: boolean;
  reasons: string[];
  warnings: string[];
  /** Judged graduation's evidence (src/graduation/judged.ts): the judge, the budget, the forms and route thresholds. */
  judged?: {
    judge: string;
    calibrationAuc: number;
    budget: ErrorBudget;
    forms: Array<{ template: string; slots: string[]; support: number; clusterIds: string[] }>;
    /** Every cluster pooled into the candidate (routes: those admission lets it serve, with their thresholds). */
    pooled: string[];
    routes: Array<{ clusterId: string; threshold: number; n: number; errors: number }>;
    admission: { level: number | null; pooled: { ok: boolean; bound: number; errors: number; n: number }; reason?: string };
  };
}

/**
 * Whether an interaction is on the held-out side of graduation's split: induction never sees it. The publish replay
 * scores templates on these rows only, so no template is judged on the answers it was induced from.
 */
export function isHeldOut(id: number | string, fraction: number, seed = 'graduation'): boolean {
  return createHash('sha256').update(`${seed}:${id}`).digest().readUInt32BE(0) / 2 ** 32 < fraction;
}

/** Deterministic split of a cluster's examples: the same interaction is always on the same side. */
export function splitHoldout<T extends { id: number }>(examples: ReadonlyArray<T>, fraction: number, seed = 'graduation'): { train: T[]; holdout: T[] } {
  const train: T[] = [];
  const holdout: T[] = [];
  for (const e of examples) (isHeldOut(e.id, fraction, seed) ? holdout : train).push(e);
  // Tiny clusters could leave one side empty; move one example across so both sides exist.
  if (holdout.length === 0 && train.length > 1) holdout.push(train.pop()!);
  if (train.length === 0 && holdout.length > 1) train.push(holdout.pop()!);
  return { train, holdout };
}

export interface VerifyInput {
  proposal: Pick<Proposal, 'template' | 'script'>;
  holdout: ReadonlyArray<Example>;
  /** Queries of neighbouring clusters, each flagged with whether the router would send it to this cluster. */
  neighbours?: ReadonlyArray<Example & { routedHere: boolean }>;
  /** Similarity of two answers (cosine of their embeddings); needed for `semantic` mode. */
  answerSimilarity?: (rendered: string, accepted: string) => number;
  warnings?: string[];
}

/**
 * Replays a candidate against held-out accepted interactions and neighbour queries, and judges it by the policy.
 * Precision is agreement among the queries it could render; coverage is the share it could render at all.
 */
export function verifyCandidate(input: VerifyInput, policy: GraduationPolicy = DEFAULT_POLICY): Evidence {
  if (policy.match === 'semantic' && !input.answerSimilarity) throw new Error('semantic matching needs answerSimilarity');
  const replay = (e: Example): ReplayRow => {
    let rendered: string;
    try {
      rendered = renderAnswer(input.proposal.template, { query: e.query, slots: e.slots }, input.proposal.script);
    } catch (err) {
      return {
        id: e.id,
        query: e.query,
        accepted: e.answer,
        error: err instanceof Error ? err.message : String(err),
        exact: false,
        normalised: false,
        agrees: false,
      };
    }
    const exact = rendered === e.answer;
    const normalised = exact || normaliseAnswer(rendered) === normaliseAnswer(e.answer);
    const semantic = input.answerSimilarity ? (normalised ? 1 : input.answerSimilarity(rendered, e.answer)) : undefined;
    const agrees = policy.match === 'exact' ? exact : policy.match === 'normalised' ? normalised : (semantic ?? 0) >= policy.semanticThreshold;
    return { id: e.id, query: e.query, accepted: e.answer, rendered, exact, normalised, semantic, agrees };
  };

  const rows = input.holdout.map(replay);
  const covered = rows.filter((r) => r.rendered !== undefined);
  const agreed = covered.filter((r) => r.agrees).length;
  const precision = covered.length ? agreed / covered.length : 0;
  const precisionLowerBound = wilsonLowerBound(agreed, covered.length);
  const coverage = rows.length ? covered.length / rows.length : 0;
  const sem = covered.filter((r) => r.semantic !== undefined);

  const neighbours = input.neighbours ?? [];
  const routed = neighbours.filter((n) => n.routedHere).map(replay);
  const wrong = routed.filter((r) => r.rendered !== undefined && !r.agrees);
  const fpRate = neighbours.length ? wrong.length / neighbours.length : 0;

  const reasons: string[] = [];
  if (rows.length === 0) reasons.push('no held-out examples to replay');
  if (precision < policy.minPrecision) reasons.push(`precision ${fmt(precision)} < ${fmt(policy.minPrecision)}`);
  if (precisionLowerBound < policy.minPrecisionLowerBound)
    reasons.push(`precision lower bound ${fmt(precisionLowerBound)} < ${fmt(policy.minPrecisionLowerBound)} (need more or better evidence)`);
  if (coverage < policy.minCoverage) reasons.push(`coverage ${fmt(coverage)} < ${fmt(policy.minCoverage)} (slots without values: ${firstError(rows)})`);
  if (fpRate > policy.maxFalsePositiveRate) reasons.push(`false positives from neighbouring clusters ${fmt(fpRate)} > ${fmt(policy.maxFalsePositiveRate)}`);

  const ordered = [...rows].sort((a, b) => Number(a.agrees) - Number(b.agrees));
  return {
    match: policy.match,
    heldOut: rows.length,
    covered: covered.length,
    agreed,
    precision,
    precisionLowerBound,
    coverage,
    exactRate: covered.length ? covered.filter((r) => r.exact).length / covered.length : 0,
    normalisedRate: covered.length ? covered.filter((r) => r.normalised).length / covered.length : 0,
    semanticMean: sem.length ? sem.reduce((a, r) => a + r.semantic!, 0) / sem.length : null,
    falsePositives: { tested: neighbours.length, routedHere: routed.length, wrong: wrong.length, rate: fpRate, examples: wrong.slice(0, 10) },
    examples: ordered.slice(0, 25),
    passed: reasons.length === 0,
    reasons,
    warnings: input.warnings ?? [],
  };
}

const fmt = (x: number) => x.toFixed(3);
const firstError = (rows: ReplayRow[]) => rows.find((r) => r.error)?.error ?? 'none';
