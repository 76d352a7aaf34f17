import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TRAIN_LORA_SCRIPT, runTrainerScript } from './python';
import type { ChatExample, TrainerConfig, TrainerEvent } from './types';

export interface LocalTraining {
  adapterDir: string;
  done: Extract<TrainerEvent, { event: 'done' }>;
  /** The loss of every progress event, in order. */
  losses: number[];
  events: TrainerEvent[];
}

/**
 * One run of scripts/trainer/train_lora.py on this machine, outside any workflow: writes the examples and config
 * into `workDir`, trains into `workDir/out`, and returns the adapter folder and the trainer's figures (throws with
 * the trainer's last output when it fails). For the student benchmark, `demo --student` and tests; jobs go through
 * the fine-tune workflow and its runners.
 */
export async function trainLocally(
  examples: readonly ChatExample[],
  config: TrainerConfig,
  workDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<LocalTraining> {
  mkdirSync(workDir, { recursive: true });
  const data = path.join(workDir, 'train.jsonl');
  const configFile = path.join(workDir, 'config.json');
  writeFileSync(data, examples.map((e) => JSON.stringify(e)).join('\n'));
  writeFileSync(configFile, JSON.stringify(config));
  const r = await runTrainerScript<TrainerEvent>(TRAIN_LORA_SCRIPT, ['--data', data, '--config', configFile, '--output', path.join(workDir, 'out')], { env })
    .done;
  const done = r.events.find((e): e is Extract<TrainerEvent, { event: 'done' }> => e.event === 'done');
  if (r.code !== 0 || !done) throw new Error(`train_lora.py failed (exit ${r.code}): ${r.stderr.slice(-1200)}`);
  const losses = r.events.filter((e): e is Extract<TrainerEvent, { event: 'progress' }> => e.event === 'progress').map((e) => e.loss);
  return { adapterDir: done.adapter_dir, done, losses, events: r.events };
}

/** A query and its accepted answer as a chat example, with an optional system turn. */
export function chatExample(query: string, answer: string, system?: string): ChatExample {
  return {
    messages: [
      ...(system ? [{ role: 'system' as const, content: system }] : []),
      { role: 'user' as const, content: query },
      { role: 'assistant' as const, content: answer },
    ],
  };
}
