import { cosine } from '../embeddings/types';
import { type Calibration, calibratedProbability } from './calibration';
import { type PreparedText, answerSlotValues, featureVector, pairFeatures, prepareText, sameAnswer, slotConflicts } from './features';
import type { Judge, JudgePair, Judgement } from './types';

/** Verdicts flip at even odds by default: P(agree) is what promotion counts; the verdict is for people. */
export const DEFAULT_AGREE_AT = 0.5;

/** An answer with its embedding, and (once prepared) its word sets and slot values, so a pair costs a cosine. */
export interface EmbeddedAnswer {
  text: string;
  vec: Float32Array;
  prepared?: PreparedText;
  slotValues?: Map<string, string[]>;
}

/** Prepares an answer once for many judgements. */
export function embeddedAnswer(text: string, vec: Float32Array): Required<EmbeddedAnswer> {
  return { text, vec, prepared: prepareText(text), slotValues: answerSlotValues(text) };
}

/**
 * The judgement of two embedded answers, synchronously (grouping answers into families scores many pairs).
 * The same text agrees (P = 1: the calibration's top step is an estimate, identity is not); then slots: a
 * conflicting value is a disagreement whatever the cosine; otherwise the calibrated probability.
 */
export function judgeEmbedded(calibration: Calibration, candidate: EmbeddedAnswer, reference: EmbeddedAnswer, agreeAt = DEFAULT_AGREE_AT): Judgement {
  if (sameAnswer(candidate.text, reference.text)) return { pAgree: 1, verdict: 'agree', evidence: { judge: 'identical' } };
  const conflicts = slotConflicts(candidate.slotValues ?? candidate.text, reference.slotValues ?? reference.text);
  if (conflicts.length) return { pAgree: 0, verdict: 'disagree', evidence: { judge: 'slots', conflicts } };
  const f = pairFeatures(cosine(candidate.vec, reference.vec), candidate.prepared ?? candidate.text, reference.prepared ?? reference.text);
  const pAgree = calibratedProbability(calibration, featureVector(f));
  return {
    pAgree,
    verdict: pAgree >= agreeAt ? 'agree' : 'disagree',
    evidence: { judge: 'embedding', calibration: calibration.id, cosine: f.cosine, features: { ...f } },
  };
}

/** The default judge: answer embeddings, calibrated on the tenant's own pairs (see pairs.ts, calibration.ts). */
export class EmbeddingJudge implements Judge {
  readonly id: string;

  constructor(
    private readonly embed: (texts: string[]) => Promise<Float32Array[]>,
    readonly calibration: Calibration,
    private readonly agreeAt = DEFAULT_AGREE_AT,
  ) {
    this.id = `embedding:${calibration.id}`;
  }

  async judge(pairs: ReadonlyArray<JudgePair>): Promise<Judgement[]> {
    if (pairs.length === 0) return [];
    // Each distinct text embedded once: replay compares one canonical answer with many references.
    const texts = [...new Set(pairs.flatMap((p) => [p.candidate, p.reference]))];
    const vecs = await this.embed(texts);
    if (vecs.length !== texts.length) throw new Error(`EmbeddingJudge: embedder returned ${vecs.length} vectors for ${texts.length} texts`);
    const vecOf = new Map(texts.map((t, i) => [t, vecs[i]!]));
    return pairs.map((p) =>
      judgeEmbedded(this.calibration, { text: p.candidate, vec: vecOf.get(p.candidate)! }, { text: p.reference, vec: vecOf.get(p.reference)! }, this.agreeAt),
    );
  }
}
