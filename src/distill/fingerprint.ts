import { createHash } from 'node:crypto';
import { canonicalJson } from '../serving/manifest-hash';
import type { TrainerConfig } from './types';

/**
 * Identities of fine-tune work. A job is what one run trains on one dataset with one config: a retried run finds
 * the same job (and its checkpoints, result, predictions and verdict, all keyed by the job id), while a new run, new
 * data or a changed config gets a new job and really trains.
 */

/**
 * The TrainerConfig fields that change what training produces. `checkpointEvery` only changes how often it saves,
 * so it is left out. scripts/trainer/train_lora.py keeps its own list for its checkpoint fingerprint (same idea,
 * minus maxSteps there, so that a run may be extended in place).
 */
const TRAINING_FIELDS = [
  'baseModel',
  'baseModelDigest',
  'lora',
  'learningRate',
  'epochs',
  'maxSteps',
  'maxLength',
  'packing',
  'batchSize',
  'gradientAccumulation',
  'seed',
  'precision',
  'warmupSteps',
  'weightDecay',
  'maxGradNorm',
] as const;

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** Short digest of the training-relevant config (key order and checkpointEvery do not matter). */
export function trainerConfigFingerprint(config: TrainerConfig): string {
  const picked: Record<string, unknown> = {};
  for (const k of TRAINING_FIELDS) if (config[k] !== undefined) picked[k] = config[k];
  return sha256(canonicalJson(picked)).slice(0, 16);
}

/** The job id: the run that asks (its workflow id names the retrain or clustering run), the dataset, the config, the runner. */
export function fineTuneJobId(input: { workflowId: string; datasetId: string; config: TrainerConfig; runner: string }): string {
  return `ft_${sha256(canonicalJson([input.workflowId, input.datasetId, trainerConfigFingerprint(input.config), input.runner])).slice(0, 12)}`;
}

/**
 * What a checkpoint was made from: the exact training file and the training config. A checkpoint with another
 * fingerprint belongs to other training and must not be resumed.
 */
export function checkpointFingerprint(trainFile: Buffer, config: TrainerConfig): string {
  return sha256(canonicalJson({ data: sha256(trainFile), config: trainerConfigFingerprint(config) })).slice(0, 16);
}
