/**
 * Contracts of distillation shared by the dataset builder (TypeScript), the Python trainer (scripts/trainer) and the
 * runners. Plain data only.
 */

/** One training example in OpenAI chat fine-tuning format: one JSON object per line of train.jsonl / eval.jsonl. */
export interface ChatExample {
  messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>;
  /** Provenance, ignored by trainers: where the example came from. */
  metadata?: { interactionId: number; clusterId: string };
}

/** What the dataset builder was given about each accepted interaction. */
export interface DatasetSourceRow {
  interactionId: number;
  clusterId: string;
  /** The request's messages (system and user turns; earlier assistant turns kept as they were). */
  messages: Array<{ role: string; content: string }>;
  /** The teacher's answer. */
  answer: string;
  /** The reviewer's/user's corrected answer when feedback was `edited`: it replaces `answer`. */
  correctedAnswer?: string | null;
  /** Whether the latest feedback accepted it (accepted, edited, or score ≥ 0.5). */
  accepted: boolean;
}

export interface DatasetOptions {
  seed: string;
  /** Share of each cluster's examples that goes to eval (stratified by cluster). Default 0.1. */
  evalShare: number;
  /** Most examples one cluster contributes (big clusters must not drown small ones). Default 2000. */
  maxPerCluster: number;
  /** Jaccard similarity of word 3-shingles (user turn + answer) at or above which two examples are near-duplicates. Default 0.9. */
  nearDuplicateJaccard: number;
  /** Fewest examples a cluster needs to be kept at all. Default 5. */
  minPerCluster: number;
}

/** The dataset card written beside the JSONL files (card.json): counts, tokens, filters, provenance. */
export interface DatasetCard {
  id: string;
  createdFrom: { tenantId: string; clusterRunId: string; clusterIds: string[] };
  options: DatasetOptions;
  counts: {
    input: number;
    notAccepted: number;
    edited: number;
    exactDuplicates: number;
    nearDuplicates: number;
    cappedOut: number;
    smallClusters: number;
    train: number;
    eval: number;
  };
  /** Estimated tokens (≈ 4 characters per token), per split, prompt and completion. */
  tokens: { train: { prompt: number; completion: number }; eval: { prompt: number; completion: number } };
  pii: { scrubbed: Record<string, number> };
  perCluster: Array<{ clusterId: string; train: number; eval: number }>;
  files: { train: string; eval: string };
}

/** Trainer configuration (JSON file passed to scripts/trainer/train_lora.py --config). */
export interface TrainerConfig {
  /**
   * The base model: a registered name (`distillery models add`; the trainer finds its folder in the models directory),
   * a local save_pretrained folder, or (openai runner) the hosted model id. No downloads at run time.
   */
  baseModel: string;
  /** The registered base's digest (models/base-models.json): the trainer refuses a base under that name with another. */
  baseModelDigest?: string;
  /** Recompute activations in the backward pass (less memory, about a third more compute). Default false. */
  gradientCheckpointing?: boolean;
  lora: { r: number; alpha: number; dropout: number; targetModules: string[] };
  learningRate: number;
  epochs: number;
  /** Stop after this many optimizer steps (overrides epochs when set). */
  maxSteps?: number;
  maxLength: number;
  packing: boolean;
  batchSize: number;
  gradientAccumulation: number;
  seed: number;
  /** Save a checkpoint every N optimizer steps. */
  checkpointEvery: number;
  /** bf16 on CUDA when supported; fp32 on CPU. */
  precision?: 'auto' | 'fp32' | 'bf16';
  /** Linear warmup steps before the linear decay to 0. Default: 10% of the steps (0 under 10 steps). */
  warmupSteps?: number;
  /** AdamW weight decay of the LoRA matrices. Default 0. */
  weightDecay?: number;
  /** Gradient clipping by global norm; 0 turns it off. Default 1. */
  maxGradNorm?: number;
}

/**
 * Lines the trainer prints on stdout, one JSON object each, that the runner turns into heartbeats and metrics:
 * {"event":"start", "total_steps", "device", "trainable_params", "total_params", "resumed_from_step"?, "device_name"?, "precision"?}
 * {"event":"progress", "step", "total_steps", "epoch", "loss", "lr", "tokens_per_s", "elapsed_s"}
 * {"event":"checkpoint", "step", "path"}
 * {"event":"done", "step", "final_loss", "first_loss", "train_tokens", "tokens_per_s", "mfu"?, "adapter_dir"}
 */
export type TrainerEvent =
  | {
      event: 'start';
      total_steps: number;
      /** 'cuda' or 'cpu'. */
      device: string;
      trainable_params: number;
      total_params: number;
      resumed_from_step?: number;
      /** The accelerator's name (torch.cuda.get_device_name) or 'cpu'. */
      device_name?: string;
      precision?: 'bf16' | 'fp32';
    }
  | { event: 'progress'; step: number; total_steps: number; epoch: number; loss: number; lr: number; tokens_per_s: number; elapsed_s: number }
  | { event: 'checkpoint'; step: number; path: string }
  | {
      event: 'done';
      step: number;
      final_loss: number;
      first_loss: number;
      train_tokens: number;
      tokens_per_s: number;
      mfu?: number | null;
      adapter_dir: string;
    };
