import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import OpenAI, { toFile } from 'openai';
import type { ChatExample } from '../types';
import type { PredictJob, RunnerHooks, TrainJob, TrainOutcome, TrainingRunner } from './types';

export interface OpenAIRunnerOptions {
  baseURL?: string;
  apiKey?: string;
  /** How often to poll the hosted job (ms). */
  pollMs?: number;
  timeoutMs?: number;
}

/**
 * A hosted OpenAI-compatible fine-tuning API. The hosted job id is reported as an event (the activity records it in
 * its heartbeat), so a retried activity polls the job it already started instead of paying for a second one.
 */
export class OpenAIRunner implements TrainingRunner {
  readonly kind = 'openai' as const;
  private readonly client: OpenAI;

  constructor(private readonly opts: OpenAIRunnerOptions = {}) {
    this.client = new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey ?? 'unused', timeout: opts.timeoutMs ?? 60_000, maxRetries: 4 });
  }

  async train(job: TrainJob, hooks: RunnerHooks): Promise<TrainOutcome> {
    let id = job.hostedJobId;
    if (!id) {
      const file = await this.client.files.create(
        { file: await toFile(createReadStream(job.trainFile), 'train.jsonl'), purpose: 'fine-tune' },
        { signal: hooks.signal },
      );
      const created = await this.client.fineTuning.jobs.create(
        {
          model: job.config.baseModel,
          training_file: file.id,
          suffix: job.jobId.slice(0, 18),
          seed: job.config.seed,
          method: {
            type: 'supervised',
            supervised: { hyperparameters: { n_epochs: job.config.epochs, learning_rate_multiplier: 'auto', batch_size: job.config.batchSize } },
          },
        },
        // The openai client drops `idempotencyKey` (it sets no idempotency header), so the header goes out explicitly.
        { signal: hooks.signal, headers: { 'Idempotency-Key': `distillery-${job.jobId}` } },
      );
      id = created.id;
    }
    for (;;) {
      if (hooks.signal.aborted) {
        await this.client.fineTuning.jobs.cancel(id).catch(() => undefined);
        const e = new Error('hosted fine-tune cancelled');
        e.name = 'AbortError';
        throw e;
      }
      const j = await this.client.fineTuning.jobs.retrieve(id);
      await hooks.onEvent({ event: 'hosted_job', id, status: j.status });
      if (j.status === 'succeeded')
        return { hostedModel: j.fine_tuned_model!, metrics: { hostedJobId: id, trainedTokens: j.trained_tokens, resultFiles: j.result_files } };
      if (j.status === 'failed' || j.status === 'cancelled') throw new Error(`hosted fine-tune ${id} ${j.status}: ${j.error?.message ?? 'no reason given'}`);
      await sleep(this.opts.pollMs ?? 15_000, hooks.signal);
    }
  }

  async predict(job: PredictJob, hooks: Pick<RunnerHooks, 'signal'> & { onProgress?: (done: number, total: number) => void }): Promise<void> {
    const rows = (await readFile(job.evalFile, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ChatExample);
    const out: string[] = [];
    for (const [index, ex] of rows.entries()) {
      const prompt = ex.messages.slice(0, -1);
      const reference = ex.messages[ex.messages.length - 1]!.content;
      const r = await this.client.chat.completions.create(
        { model: job.hostedModel ?? job.baseModel, messages: prompt, temperature: 0, max_tokens: job.maxNewTokens },
        { signal: hooks.signal },
      );
      out.push(JSON.stringify({ index, prediction: r.choices[0]?.message?.content ?? '', reference }));
      hooks.onProgress?.(index + 1, rows.length);
    }
    await writeFile(job.outputFile, out.join('\n') + '\n');
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
