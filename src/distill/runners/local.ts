import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GENERATE_SCRIPT, TRAIN_LORA_SCRIPT, TRAINER_PYTHON } from '../python';
import type { TrainerEvent } from '../types';
import { runJsonLines } from './process';
import type { PredictJob, RunnerHooks, TrainJob, TrainOutcome, TrainingRunner } from './types';

/** The file train_lora.py waits for in a checkpoint folder before deleting it (its UPLOADED_MARKER). */
export const UPLOADED_MARKER = '.uploaded';

/** The Python trainer (scripts/trainer) on this machine: CUDA when present, CPU otherwise. */
export class LocalRunner implements TrainingRunner {
  readonly kind = 'local' as const;

  constructor(private readonly python = TRAINER_PYTHON) {}

  async train(job: TrainJob, hooks: RunnerHooks): Promise<TrainOutcome> {
    const output = path.join(job.workDir, 'output');
    await mkdir(output, { recursive: true });
    const configFile = path.join(job.workDir, 'config.json');
    await writeFile(configFile, JSON.stringify(job.config, null, 2));
    let done: Extract<TrainerEvent, { event: 'done' }> | undefined;
    await runJsonLines(
      this.python,
      [TRAIN_LORA_SCRIPT, '--data', job.trainFile, '--config', configFile, '--output', output, ...(job.resume ? ['--resume'] : [])],
      {
        what: 'trainer',
        signal: hooks.signal,
        // The trainer deletes an old checkpoint only once it carries UPLOADED_MARKER (written below, after the
        // hooks, which upload it, are done with it): cleanup never races an upload.
        env: { DISTILLERY_CHECKPOINT_ACK: '1' },
        onEvent: async (e) => {
          const ev = e as unknown as TrainerEvent;
          if (ev.event === 'done') done = ev;
          await hooks.onEvent(ev);
          if (ev.event === 'checkpoint') await writeFile(path.join(ev.path, UPLOADED_MARKER), '').catch(() => undefined);
        },
      },
    );
    if (!done) throw new Error('trainer exited without a "done" event');
    return { adapterDir: done.adapter_dir, metrics: { ...done } };
  }

  async predict(job: PredictJob, hooks: Pick<RunnerHooks, 'signal'> & { onProgress?: (done: number, total: number) => void }): Promise<void> {
    const args = [GENERATE_SCRIPT, '--base', job.baseModel, '--data', job.evalFile, '--output', job.outputFile, '--max-new-tokens', String(job.maxNewTokens)];
    if (job.adapterDir) args.push('--adapter', job.adapterDir);
    await runJsonLines(this.python, args, {
      what: 'student inference',
      signal: hooks.signal,
      onEvent: (e) => {
        if (e.event === 'progress') hooks.onProgress?.(Number(e.done), Number(e.total));
      },
    });
  }
}
