import type { Calibration } from '../judge/calibration';
import { EmbeddingJudge } from '../judge/embedding';
import { sameAnswer } from '../judge/features';
import type { Judge, JudgeEvidence, JudgePair, Judgement } from '../judge/types';
import type { Manifest } from '../serving/manifest';

/**
 * The judge of shadow checks: the tenant's own calibrated embedding judge when the manifest publishes one (the scale
 * promotion used), else a conservative rule — the served answer must equal the teacher's after case, space and final
 * punctuation folding — which can only err towards demotion. Which one judged is in every judgement's evidence.
 */
export const EXACT_JUDGE_ID = 'exact-match (the manifest publishes no judge)';

export class ExactMatchJudge implements Judge {
  readonly id = EXACT_JUDGE_ID;
  async judge(pairs: ReadonlyArray<JudgePair>): Promise<Judgement[]> {
    return pairs.map((p) =>
      sameAnswer(p.candidate, p.reference)
        ? { pAgree: 1, verdict: 'agree', evidence: { judge: 'identical' } }
        : // Not one of the project judges' evidence kinds: this rule is the gateway's own, and says so.
          { pAgree: 0, verdict: 'disagree', evidence: { judge: 'exact-match', equal: false } as unknown as JudgeEvidence },
    );
  }
}

export function shadowJudge(manifest: Manifest, embed: (texts: string[]) => Promise<Float32Array[]>): Judge {
  const j = manifest.judge;
  if (j?.kind === 'embedding') return new EmbeddingJudge(embed, j.calibration as Calibration, j.agreeAt);
  return new ExactMatchJudge();
}
