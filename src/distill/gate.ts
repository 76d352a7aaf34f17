import { normaliseAnswer } from '../serving/answer';

/** One eval example's reference (the teacher's accepted answer) and what a model answered. */
export interface Prediction {
  index: number;
  prediction: string;
  reference: string;
}

export interface GatePolicy {
  /** Mean cosine (student answer vs accepted answer embeddings) the student must reach. */
  minMeanSimilarity: number;
  /** How much the student must beat the base model without adapter: in match rate when classification-like, else in mean cosine. */
  minGainOverBase: number;
  /** For classification-like tasks (few distinct answers): normalised exact-match rate the student must reach. */
  minMatchRate: number;
  /** Fewest eval examples a verdict may rest on. */
  minExamples: number;
  /** With a judge: the mean P(agree) with the accepted answers the student must reach (free text; replaces minMeanSimilarity). */
  minAgreement?: number;
}

export const DEFAULT_GATE: GatePolicy = { minMeanSimilarity: 0.8, minGainOverBase: 0.05, minMatchRate: 0.9, minExamples: 10, minAgreement: 0.85 };

/** The judge's view of both models' answers (src/judge): P(agree) with the reference, per prediction, in order. */
export interface JudgedPredictions {
  /** The judge's id (calibration hash, model): recorded as evidence. */
  judge: string;
  student: number[];
  base: number[];
}

export interface ModelFigures {
  examples: number;
  meanSimilarity: number;
  p10Similarity: number;
  exactRate: number;
  normalisedRate: number;
  /** With a judge: mean P(agree) with the accepted answers, and the share judged to agree (P >= 0.5). */
  agreement?: number;
  agreeShare?: number;
}

export interface GateEvaluation {
  verdict: 'pass' | 'fail';
  reasons: string[];
  /** Classification-like: the accepted answers are a few fixed short strings; then match rate decides. */
  classificationLike: boolean;
  /** The judge that decided free-text quality (absent: mean cosine decided). */
  judge?: string;
  student: ModelFigures;
  base: ModelFigures;
  /** Worst student answers first (at most 10), for people reading the evidence. */
  examples: Array<Prediction & { similarity: number; baseSimilarity: number; basePrediction: string }>;
  policy: GatePolicy;
}

function figures(preds: Prediction[], sims: number[], pAgree?: number[]): ModelFigures {
  const sorted = [...sims].sort((a, b) => a - b);
  const n = preds.length;
  return {
    ...(pAgree ? { agreement: n ? pAgree.reduce((a, b) => a + b, 0) / n : 0, agreeShare: n ? pAgree.filter((p) => p >= 0.5).length / n : 0 } : {}),
    examples: n,
    meanSimilarity: n ? sims.reduce((a, b) => a + b, 0) / n : 0,
    p10Similarity: n ? sorted[Math.floor(0.1 * (n - 1))]! : 0,
    exactRate: n ? preds.filter((p) => p.prediction === p.reference).length / n : 0,
    normalisedRate: n ? preds.filter((p) => normaliseAnswer(p.prediction) === normaliseAnswer(p.reference)).length / n : 0,
  };
}

/** Longest accepted answer that still counts as a fixed label ("refund_request", "Yes, it ships today."). */
const LABEL_MAX_CHARS = 80;
/** Most distinct accepted answers a classification-like split may have. */
const LABELS_MAX = 12;

/**
 * Whether the accepted answers really are one of a few fixed strings (labels), so exact match is the right test:
 * at least 10 examples, each distinct answer short and repeated (at most a fifth as many distinct answers as
 * examples, and at most LABELS_MAX). Free-text answers that merely repeat (a canned paragraph) are judged instead.
 */
export function isClassificationLike(references: readonly string[]): boolean {
  const refs = new Set(references.map(normaliseAnswer));
  return (
    references.length >= 10 && refs.size <= Math.min(LABELS_MAX, Math.max(2, references.length / 5)) && [...refs].every((r) => r.length <= LABEL_MAX_CHARS)
  );
}

/**
 * The evaluation gate: the student (base + adapter) against the teacher's accepted answers and against the base
 * model alone, on the same eval split. `studentSim[i]` / `baseSim[i]` are the cosines of each answer with its
 * reference (the activity embeds them). With `judged` (the judge's P(agree) per answer, src/judge), free-text
 * quality is the judged agreement (policy.minAgreement) and the gain is measured on it; without, mean cosine. An
 * adapter passes only if it is good in absolute terms and clearly better than not training at all.
 */
export function gate(
  student: Prediction[],
  base: Prediction[],
  studentSim: number[],
  baseSim: number[],
  policy: GatePolicy = DEFAULT_GATE,
  judged?: JudgedPredictions,
): GateEvaluation {
  if (student.length !== studentSim.length || base.length !== baseSim.length) throw new Error('one similarity per prediction');
  if (judged && (judged.student.length !== student.length || judged.base.length !== base.length)) throw new Error('one judgement per prediction');
  const s = figures(student, studentSim, judged?.student);
  const b = figures(base, baseSim, judged?.base);
  const classificationLike = isClassificationLike(student.map((p) => p.reference));
  const minAgreement = policy.minAgreement ?? DEFAULT_GATE.minAgreement!;
  const reasons: string[] = [];
  if (s.examples < policy.minExamples) reasons.push(`${s.examples} eval examples < ${policy.minExamples}`);
  if (classificationLike) {
    if (s.normalisedRate < policy.minMatchRate) reasons.push(`match rate ${s.normalisedRate.toFixed(3)} < ${policy.minMatchRate}`);
  } else if (judged) {
    if (s.agreement! < minAgreement) reasons.push(`judged agreement ${s.agreement!.toFixed(3)} < ${minAgreement}`);
  } else if (s.meanSimilarity < policy.minMeanSimilarity) reasons.push(`mean similarity ${s.meanSimilarity.toFixed(3)} < ${policy.minMeanSimilarity}`);
  // The gain is measured on the figure that decides: match rate for classification-like tasks, else judged
  // agreement (with a judge) or mean cosine.
  const decides = classificationLike ? 'match-rate ' : judged ? 'agreement ' : '';
  const gain = classificationLike ? s.normalisedRate - b.normalisedRate : judged ? s.agreement! - b.agreement! : s.meanSimilarity - b.meanSimilarity;
  if (gain < policy.minGainOverBase) reasons.push(`${decides}gain over the base model ${gain.toFixed(3)} < ${policy.minGainOverBase}`);
  const baseByIndex = new Map(base.map((p, i) => [p.index, { p, sim: baseSim[i]! }]));
  const examples = student
    .map((p, i) => ({
      ...p,
      similarity: studentSim[i]!,
      baseSimilarity: baseByIndex.get(p.index)?.sim ?? 0,
      basePrediction: baseByIndex.get(p.index)?.p.prediction ?? '',
    }))
    .sort((x, y) => x.similarity - y.similarity)
    .slice(0, 10);
  return {
    verdict: reasons.length ? 'fail' : 'pass',
    reasons,
    classificationLike,
    ...(judged ? { judge: judged.judge } : {}),
    student: s,
    base: b,
    examples,
    policy,
  };
}
