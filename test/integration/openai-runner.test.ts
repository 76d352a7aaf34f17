/**
 * The hosted fine-tuning runner end to end against a deterministic OpenAI-compatible server of this test's own: the
 * real `openai` client uploads the train file, creates the job, polls it, cancels it, and runs inference over HTTP.
 */
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAIRunner } from '../../src/distill/runners/openai';
import type { RunnerHooks, TrainJob } from '../../src/distill/runners/types';
import type { ChatExample, TrainerConfig } from '../../src/distill/types';
import { DEFAULT_PLAN, type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai';

let fake: FakeOpenAI;
let dir: string;

const CONFIG: TrainerConfig = {
  baseModel: 'gpt-4o-mini-2024-07-18',
  lora: { r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] },
  learningRate: 2e-4,
  epochs: 3,
  maxLength: 512,
  packing: false,
  batchSize: 4,
  gradientAccumulation: 1,
  seed: 1234,
  checkpointEvery: 50,
};

const TRAIN: ChatExample[] = Array.from({ length: 6 }, (_, i) => ({
  messages: [
    { role: 'system', content: 'Classify the banking query.' },
    { role: 'user', content: `I lost my card number ${i} — what now? “quoted” ünïcode` },
    { role: 'assistant', content: i % 2 ? 'card_lost' : 'card_stolen' },
  ],
  metadata: { interactionId: 100 + i, clusterId: `c${i % 2}` },
}));

const EVAL: ChatExample[] = [
  {
    messages: [
      { role: 'user', content: 'where is my refund?' },
      { role: 'assistant', content: 'refund_status' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'block my card' },
      { role: 'assistant', content: 'card_block' },
    ],
  },
  {
    messages: [
      { role: 'user', content: 'exchange rate today' },
      { role: 'assistant', content: 'exchange_rate' },
    ],
  },
];

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

function runner(): OpenAIRunner {
  return new OpenAIRunner({ baseURL: fake.baseURL, apiKey: 'test', pollMs: 5, timeoutMs: 10_000 });
}

function trainJob(jobId: string, extra: Partial<TrainJob> = {}): TrainJob {
  const trainFile = path.join(dir, `${jobId}-train.jsonl`);
  writeFileSync(trainFile, jsonl(TRAIN));
  return { jobId, trainFile, config: CONFIG, workDir: path.join(dir, jobId), resume: false, ...extra };
}

type HostedEvent = { event: 'hosted_job'; id: string; status: string };

function hooks(signal = new AbortController().signal, onEvent?: (e: HostedEvent) => void): RunnerHooks & { events: HostedEvent[] } {
  const events: HostedEvent[] = [];
  return {
    events,
    signal,
    onEvent: (e) => {
      events.push(e as HostedEvent);
      onEvent?.(e as HostedEvent);
    },
  };
}

beforeAll(async () => {
  fake = await startFakeOpenAI();
  dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-openai-runner-'));
});

afterAll(async () => {
  await fake?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fake.planFor = () => DEFAULT_PLAN;
});

describe('OpenAIRunner.train', () => {
  it('uploads the train file, creates one job with the config, reports its statuses and returns the fine-tuned model', async () => {
    const [files0, jobs0] = [fake.files.length, fake.jobs.length];
    const h = hooks();
    const out = await runner().train(trainJob('job-happy-0123456789-abcdef'), h);

    // the server received exactly the JSONL lines of the train file, as a fine-tune upload
    expect(fake.files).toHaveLength(files0 + 1);
    const uploaded = fake.files.at(-1)!;
    expect(uploaded.purpose).toBe('fine-tune');
    expect(uploaded.filename).toBe('train.jsonl');
    expect(uploaded.content).toBe(jsonl(TRAIN));
    expect(
      uploaded.content
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    ).toEqual(TRAIN);

    // one job, on that file, with the config's base model, epochs, seed and batch size
    expect(fake.jobs).toHaveLength(jobs0 + 1);
    const job = fake.jobs.at(-1)!;
    expect(job.body).toMatchObject({
      model: CONFIG.baseModel,
      training_file: uploaded.id,
      seed: CONFIG.seed,
      method: { type: 'supervised', supervised: { hyperparameters: { n_epochs: CONFIG.epochs, batch_size: CONFIG.batchSize } } },
    });
    expect(String(job.body.suffix).length).toBeLessThanOrEqual(18);
    expect(job.idempotencyKey).toBe('distillery-job-happy-0123456789-abcdef');

    // one event per poll, in order, until it succeeded
    expect(h.events).toEqual(DEFAULT_PLAN.statuses.map((status) => ({ event: 'hosted_job', id: job.id, status })));
    expect(job.polls).toBe(DEFAULT_PLAN.statuses.length);

    expect(out.hostedModel).toBe(`ft:${CONFIG.baseModel}:test:${String(job.body.suffix)}:${job.id}`);
    expect(out.adapterDir).toBeUndefined();
    expect(out.metrics).toMatchObject({ hostedJobId: job.id, trainedTokens: 12_345 });
  });

  it('polls the hosted job it started on an earlier attempt without uploading or creating again', async () => {
    await runner().train(trainJob('job-retry'), hooks());
    const first = fake.jobs.at(-1)!;
    const [files0, creates0, jobs0] = [fake.files.length, fake.createRequests.length, fake.jobs.length];
    const before = fake.requests.length;

    const h = hooks();
    const out = await runner().train(trainJob('job-retry', { hostedJobId: first.id, resume: true }), h);

    expect(fake.files).toHaveLength(files0);
    expect(fake.createRequests).toHaveLength(creates0);
    expect(fake.jobs).toHaveLength(jobs0);
    // only GETs of that job went out
    expect(fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([`GET /v1/fine_tuning/jobs/${first.id}`]);
    expect(h.events).toEqual([{ event: 'hosted_job', id: first.id, status: 'succeeded' }]);
    expect(out.hostedModel).toMatch(new RegExp(`:${first.id}$`));
  });

  it('sends the same Idempotency-Key on a retry that never learnt the job id, so no second job is paid for', async () => {
    // first attempt: the worker dies right after creating the job, before the id reached a heartbeat
    const died = hooks(undefined, () => {
      throw new Error('worker died');
    });
    await expect(runner().train(trainJob('job-idem'), died)).rejects.toThrow('worker died');
    const first = fake.jobs.at(-1)!;
    const jobs0 = fake.jobs.length;

    const out = await runner().train(trainJob('job-idem'), hooks());
    const keys = fake.createRequests.slice(-2).map((r) => r.idempotencyKey);
    expect(keys).toEqual(['distillery-job-idem', 'distillery-job-idem']);
    expect(fake.jobs).toHaveLength(jobs0);
    expect(out.hostedModel).toMatch(new RegExp(`:${first.id}$`));
  });

  it("rejects with the server's error message when the hosted job fails", async () => {
    fake.planFor = () => ({
      statuses: ['queued', 'running', 'failed'],
      error: { code: 'invalid_training_file', message: 'Training file has 6 examples; at least 10 are required.', param: 'training_file' },
    });
    const h = hooks();
    const err = (await runner()
      .train(trainJob('job-fails'), h)
      .catch((e: unknown) => e)) as Error;
    const job = fake.jobs.at(-1)!;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('Training file has 6 examples; at least 10 are required.');
    expect(err.message).toContain(job.id);
    expect(err.message).toContain('failed');
    expect(h.events.map((e) => e.status)).toEqual(['queued', 'running', 'failed']);
    expect(job.cancelled).toBe(false);
  });

  it('cancels the hosted job and rejects with an AbortError when the signal is aborted', async () => {
    fake.planFor = () => ({ statuses: ['queued', 'running'] }); // never finishes on its own
    const ac = new AbortController();
    let runningPolls = 0;
    const h = hooks(ac.signal, (e) => {
      if (e.status === 'running' && ++runningPolls === 3) ac.abort();
    });
    const err = (await runner()
      .train(trainJob('job-cancelled'), h)
      .catch((e: unknown) => e)) as Error;
    const job = fake.jobs.at(-1)!;
    expect(err.name).toBe('AbortError');
    expect(job.cancelled).toBe(true);
    expect(fake.requests.filter((r) => r.path === `/v1/fine_tuning/jobs/${job.id}/cancel`).map((r) => r.method)).toEqual(['POST']);
    // no polling after the abort
    expect(h.events.map((e) => e.status)).toEqual(['queued', 'running', 'running', 'running']);
  });

  it('does not pile up abort listeners on the signal while polling a long job', async () => {
    fake.planFor = () => ({ statuses: [...Array<string>(30).fill('running'), 'succeeded'] });
    const ac = new AbortController();
    const h = hooks(ac.signal);
    await runner().train(trainJob('job-long'), h);
    expect(h.events).toHaveLength(31);
    expect(getEventListeners(ac.signal, 'abort').length).toBeLessThanOrEqual(1);
  });
});

describe('OpenAIRunner.predict', () => {
  it('writes one {index, prediction, reference} line per eval example, from the hosted model at temperature 0', async () => {
    const evalFile = path.join(dir, 'eval.jsonl');
    const outputFile = path.join(dir, 'predictions.jsonl');
    writeFileSync(evalFile, jsonl(EVAL));
    const chats0 = fake.chatRequests.length;
    const progress: Array<[number, number]> = [];

    await runner().predict(
      { baseModel: CONFIG.baseModel, hostedModel: 'ft:gpt-4o-mini:test:abc', evalFile, outputFile, maxNewTokens: 64 },
      { signal: new AbortController().signal, onProgress: (d, t) => progress.push([d, t]) },
    );

    const lines = readFileSync(outputFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { index: 0, prediction: 'ft:gpt-4o-mini:test:abc answers: where is my refund?', reference: 'refund_status' },
      { index: 1, prediction: 'ft:gpt-4o-mini:test:abc answers: block my card', reference: 'card_block' },
      { index: 2, prediction: 'ft:gpt-4o-mini:test:abc answers: exchange rate today', reference: 'exchange_rate' },
    ]);
    const chats = fake.chatRequests.slice(chats0);
    expect(chats).toHaveLength(3);
    for (const c of chats) expect(c).toMatchObject({ model: 'ft:gpt-4o-mini:test:abc', temperature: 0, max_tokens: 64 });
    // the prompt is the example without its reference answer
    expect(chats.map((c) => c.messages)).toEqual(EVAL.map((e) => e.messages.slice(0, -1)));
    expect(progress).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
  });

  it('asks the base model when there is no hosted model', async () => {
    const evalFile = path.join(dir, 'eval-base.jsonl');
    const outputFile = path.join(dir, 'predictions-base.jsonl');
    writeFileSync(evalFile, jsonl(EVAL.slice(0, 1)));
    await runner().predict({ baseModel: CONFIG.baseModel, evalFile, outputFile, maxNewTokens: 32 }, { signal: new AbortController().signal });
    expect(readFileSync(outputFile, 'utf8')).toBe(
      jsonl([{ index: 0, prediction: `${CONFIG.baseModel} answers: where is my refund?`, reference: 'refund_status' }]),
    );
    expect(fake.chatRequests.at(-1)).toMatchObject({ model: CONFIG.baseModel, temperature: 0 });
  });
});
