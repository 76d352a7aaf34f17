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
}

export const DEFAULT_GATE: GatePolicy = { minMeanSimilarity: 0.8, minGainOverBase: 0.05, minMatchRate: 0.9, minExamples: 10 };

export interface ModelFigures {
  examples: number;
  meanSimilarity: number;
  p10Similarity: number;
  exactRate: number;
  normalisedRate: number;
}

export interface GateEvaluation {
  verdict: 'pass' | 'fail';
  reasons: string[];
  /** Classification-like: few distinct accepted answers, each repeated; then match rate decides, not similarity. */
  classificationLike: boolean;
  student: ModelFigures;
  base: ModelFigures;
  /** Worst student answers first (at most 10), for people reading the evidence. */
  examples: Array<Prediction & { similarity: number; baseSimilarity: number; basePrediction: string }>;
  policy: GatePolicy;
}

function figures(preds: Prediction[], sims: number[]): ModelFigures {
  const sorted = [...sims].sort((a, b) => a - b);
  const n = preds.length;
  return {
    examples: n,
    meanSimilarity: n ? sims.reduce((a, b) => a + b, 0) / n : 0,
    p10Similarity: n ? sorted[Math.floor(0.1 * (n - 1))]! : 0,
    exactRate: n ? preds.filter((p) => p.prediction === p.reference).length / n : 0,
    normalisedRate: n ? preds.filter((p) => normaliseAnswer(p.prediction) === normaliseAnswer(p.reference)).length / n : 0,
  };
}

/**
 * The evaluation gate: the student (base + adapter) against the teacher's accepted answers and against the base
 * model alone, on the same eval split. `studentSim[i]` / `baseSim[i]` are the cosines of each answer with its
 * reference (the activity embeds them). An adapter passes only if it is good in absolute terms and clearly better
 * than not training at all.
 */
export function gate(student: Prediction[], base: Prediction[], studentSim: number[], baseSim: number[], policy: GatePolicy = DEFAULT_GATE): GateEvaluation {
  if (student.length !== studentSim.length || base.length !== baseSim.length) throw new Error('one similarity per prediction');
  const s = figures(student, studentSim);
  const b = figures(base, baseSim);
  const refs = new Map<string, number>();
  for (const p of student) refs.set(normaliseAnswer(p.reference), (refs.get(normaliseAnswer(p.reference)) ?? 0) + 1);
  const classificationLike = student.length >= 10 && refs.size <= Math.max(2, student.length / 5);
  const reasons: string[] = [];
  if (s.examples < policy.minExamples) reasons.push(`${s.examples} eval examples < ${policy.minExamples}`);
  if (classificationLike) {
    if (s.normalisedRate < policy.minMatchRate) reasons.push(`match rate ${s.normalisedRate.toFixed(3)} < ${policy.minMatchRate}`);
  } else if (s.meanSimilarity < policy.minMeanSimilarity) reasons.push(`mean similarity ${s.meanSimilarity.toFixed(3)} < ${policy.minMeanSimilarity}`);
  // The gain is measured on the figure that decides: match rate for classification-like tasks, else mean cosine.
  const gain = classificationLike ? s.normalisedRate - b.normalisedRate : s.meanSimilarity - b.meanSimilarity;
  if (gain < policy.minGainOverBase)
    reasons.push(`${classificationLike ? 'match-rate ' : ''}gain over the base model ${gain.toFixed(3)} < ${policy.minGainOverBase}`);
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
  return { verdict: reasons.length ? 'fail' : 'pass', reasons, classificationLike, student: s, base: b, examples, policy };
}
