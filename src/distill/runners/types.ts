import type { Runner } from '../../vocabulary';
import type { TrainerConfig, TrainerEvent } from '../types';

/** A training job as a runner sees it: local files in, events out. */
export interface TrainJob {
  jobId: string;
  /** Local path of train.jsonl (ChatExample lines). */
  trainFile: string;
  config: TrainerConfig;
  /** Private working directory of this job on this machine (checkpoints live under workDir/output/checkpoints). */
  workDir: string;
  /** Continue from the latest checkpoint in workDir (a runner restored it there from the blob store). */
  resume: boolean;
  /** A hosted job this activity started on an earlier attempt (hosted runners resume polling it). */
  hostedJobId?: string;
}

export interface TrainOutcome {
  /** Local PEFT adapter directory (local runners). */
  adapterDir?: string;
  /** The model name a hosted API serves the result under (hosted runners). */
  hostedModel?: string;
  metrics: Record<string, unknown>;
}

export interface RunnerHooks {
  /** Every trainer event, in order; awaited before the next (checkpoint uploads finish before training moves on). */
  onEvent: (e: TrainerEvent | { event: 'hosted_job'; id: string; status: string }) => Promise<void> | void;
  /** Aborted when the activity is cancelled: the runner stops the job cleanly and rejects. */
  signal: AbortSignal;
}

export interface PredictJob {
  baseModel: string;
  /** Local adapter dir, a hosted model name, or absent for the base model alone. */
  adapterDir?: string;
  hostedModel?: string;
  /** Local path of eval.jsonl. */
  evalFile: string;
  /** Where predictions.jsonl goes ({index, prediction, reference} per line). */
  outputFile: string;
  maxNewTokens: number;
}

/**
 * Where fine-tuning runs. `local`: the Python trainer on this machine (CUDA when present, CPU otherwise), run by
 * the `distillery-gpu` worker. `openai`: a hosted OpenAI-compatible fine-tuning API through the `openai` client.
 */
export interface TrainingRunner {
  readonly kind: Runner;
  train(job: TrainJob, hooks: RunnerHooks): Promise<TrainOutcome>;
  predict(job: PredictJob, hooks: Pick<RunnerHooks, 'signal'> & { onProgress?: (done: number, total: number) => void }): Promise<void>;
}
