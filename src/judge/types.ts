/**
 * The judge: does a candidate answer agree in meaning with the teacher's accepted (reference) answer for a query?
 * Every promotion (template, adapter, cheap model) asks it, so its score is one scale: a probability of agreement.
 */
export interface JudgePair {
  query: string;
  candidate: string;
  reference: string;
}

export type Verdict = 'agree' | 'disagree';

/** Why a judge said what it said: enough for a reviewer (and an audit) to see the basis of each verdict. */
export type JudgeEvidence =
  | { judge: 'identical' }
  | { judge: 'slots'; conflicts: SlotConflict[] }
  | { judge: 'embedding'; calibration: string; cosine: number; features: Record<string, number> }
  | {
      judge: 'llm';
      model: string;
      prompt: Array<{ role: string; content: string }>;
      reply: string;
      usage: { promptTokens: number; completionTokens: number };
      costUsd: number;
      error?: string;
    };

/** A slot type whose values differ between candidate and reference: "order 123" is not "order 456". */
export interface SlotConflict {
  type: string;
  candidate: string[];
  reference: string[];
}

export interface Judgement {
  /** Probability that the candidate agrees in meaning with the reference (calibrated for the default judge). */
  pAgree: number;
  verdict: Verdict;
  evidence: JudgeEvidence;
}

/** Pluggable: the calibrated embedding judge by default, an LLM judge through any OpenAI-compatible endpoint. */
export interface Judge {
  /** Names the judge and its configuration (calibration hash, model), recorded beside each promotion. */
  readonly id: string;
  /** One judgement per pair, in input order. */
  judge(pairs: ReadonlyArray<JudgePair>): Promise<Judgement[]>;
}
