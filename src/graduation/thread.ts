import type { ThreadTask } from '../threads/run';
import type { ScriptSpec } from '../serving/script';
import { answerFitWarnings } from './fit';
import type { Calibration } from '../judge/calibration';
import { type JudgedInput, judgedGraduation } from '../promotion/judged';
import { judgedGraduationResult } from './judged';
import { type RunGraduationInput, runGraduationData } from './load';
import { type GraduationResult, graduateClusters } from './propose';
import { DEFAULT_POLICY, type Evidence, type GraduationPolicy, splitHoldout, verifyCandidate } from './verify';

/**
 * Graduation's CPU-bound steps as pure functions of plain data, so they can run in a worker thread
 * (src/threads/run.ts): the closures graduation uses (neighbour queries, fit warnings) cannot cross a thread, so
 * the thread gets the run's data (RunGraduationInput: examples, vectors, centroids) and builds them itself.
 */

export interface GraduateRunTaskInput {
  data: RunGraduationInput;
  policy: GraduationPolicy;
}

/** Induces and verifies candidates for every cluster of the run (what the graduateRun activity records). */
export function graduateRunData(input: GraduateRunTaskInput): GraduationResult {
  const data = runGraduationData(input.data);
  return graduateClusters(data.clusters, {
    policy: input.policy,
    neighbours: data.neighbours,
    warn: (p, examples) =>
      answerFitWarnings(
        p.template,
        examples.map((e) => e.query),
      ),
  });
}

export interface VerifyEditTaskInput {
  data: RunGraduationInput;
  clusterIds: string[];
  template: string;
  script: ScriptSpec | null;
}

/** Replays a reviewer's edit on the candidate's held-out interactions (the split induction used) and neighbours. */
export function verifyEditData(input: VerifyEditTaskInput): Evidence {
  const data = runGraduationData(input.data);
  const members = data.clusters.filter((x) => input.clusterIds.includes(x.clusterId));
  const holdout = members.flatMap((m) => splitHoldout(m.examples, DEFAULT_POLICY.holdoutFraction).holdout);
  return verifyCandidate({
    proposal: { template: input.template, script: input.script },
    holdout,
    neighbours: data.neighbours(input.clusterIds),
    warnings: answerFitWarnings(
      input.template,
      members.flatMap((m) => m.examples.map((e) => e.query)),
    ),
  });
}

/** Buffers of the input that can move to the thread instead of being copied. */
export const graduationTransfer = (data: RunGraduationInput): ArrayBuffer[] => [data.vectors.buffer as ArrayBuffer, data.centroids.buffer as ArrayBuffer];

export const graduateRunTask: ThreadTask<GraduateRunTaskInput, GraduationResult> = async (input) => ({ result: graduateRunData(input) });
export const verifyEditTask: ThreadTask<VerifyEditTaskInput, Evidence> = async (input) => ({ result: verifyEditData(input) });

export interface JudgedGraduationTaskInput {
  input: JudgedInput;
  /** The answer texts (answerTexts) and their embeddings, texts.length × dims. */
  texts: string[];
  dims: number;
  vectors: Float32Array;
}

/** Judged graduation of a run (src/promotion/judged.ts), recorded as graduation's candidates, and the judge it fitted. */
export function judgedGraduationData(t: JudgedGraduationTaskInput): { result: GraduationResult; calibration: Calibration } {
  const vectors = new Map(t.texts.map((text, i) => [text, t.vectors.subarray(i * t.dims, (i + 1) * t.dims)]));
  const judged = judgedGraduation(t.input, vectors);
  return { result: judgedGraduationResult(judged, t.input), calibration: judged.calibration };
}

export const judgedGraduationTask: ThreadTask<JudgedGraduationTaskInput, { result: GraduationResult; calibration: Calibration }> = async (input) => ({
  result: judgedGraduationData(input),
});
