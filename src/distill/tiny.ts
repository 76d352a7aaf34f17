import type { TrainerConfig } from './types';

/**
 * Trainer settings for the tiny CPU model (scripts/trainer/make_tiny_model.py): LoRA on every projection and a high
 * learning rate, so a few dozen steps visibly lower the loss. For demos and tests, not for real models.
 */
export function tinyTrainerConfig(baseModel: string, overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  return {
    baseModel,
    lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
    learningRate: 0.01,
    epochs: 1,
    maxSteps: 30,
    maxLength: 192,
    packing: false,
    batchSize: 8,
    gradientAccumulation: 1,
    seed: 1,
    checkpointEvery: 10,
    ...overrides,
  };
}
