import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAKE_TINY_MODEL_SCRIPT, runTrainerScript } from './python';
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

/**
 * Builds the tiny random-weight model (scripts/trainer/make_tiny_model.py) into `output`, its tokenizer trained on
 * these question/answer pairs (written beside it as chat JSONL). Throws with the script's last output on failure.
 */
export async function buildTinyModel(
  examples: ReadonlyArray<{ query: string; answer: string }>,
  output: string,
  opts: { seed?: number } = {},
): Promise<string> {
  mkdirSync(path.dirname(output), { recursive: true });
  const data = `${output}.tokenizer-data.jsonl`;
  const lines = examples.map((e) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: e.query },
        { role: 'assistant', content: e.answer },
      ],
    }),
  );
  writeFileSync(data, lines.join('\n'));
  const args = ['--data', data, '--output', output, ...(opts.seed === undefined ? [] : ['--seed', String(opts.seed)])];
  const made = await runTrainerScript(MAKE_TINY_MODEL_SCRIPT, args).done;
  if (made.code !== 0) throw new Error(`make_tiny_model.py failed (exit ${made.code}): ${made.stderr.slice(-600)}`);
  return output;
}
