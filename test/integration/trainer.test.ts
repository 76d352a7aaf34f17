import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSharedDataset } from '../../src/datasets/shared';
import {
  GENERATE_SCRIPT,
  type GenerateEvent,
  MAKE_TINY_MODEL_SCRIPT,
  type Prediction,
  type PythonRunResult,
  TRAIN_LORA_SCRIPT,
  TRAINER_PYTHON,
  runTrainerScript,
} from '../../src/distill/python';
import type { ChatExample, TrainerConfig, TrainerEvent } from '../../src/distill/types';

/**
 * The Python LoRA trainer end to end on the CPU: a tiny random Llama with a tokenizer trained on the data, a LoRA
 * adapter trained for 30 steps on real customer-support answers, generation with and without it, and an interrupted
 * run (SIGTERM after its first checkpoint) resumed to the very same result as the uninterrupted one.
 */

const SYSTEM = 'You are a helpful customer support assistant.';
const INTENTS = ['cancel_order', 'track_order', 'get_refund'];
// One thread: on a small shared VM, two OpenMP threads on a model this size are sometimes 50x slower (spinning on a
// busy vCPU), and one thread keeps the interrupted and uninterrupted runs bit-for-bit comparable.
const ENV = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Whether a parsed line is a TrainerEvent (src/distill/types.ts), field by field. */
function trainerEventProblem(e: Record<string, unknown>): string | null {
  const need = (keys: string[], check: (v: unknown) => boolean) => keys.find((k) => !check(e[k]));
  let bad: string | undefined;
  switch (e.event) {
    case 'start':
      bad = need(['total_steps', 'trainable_params', 'total_params'], isNum) ?? need(['device'], (v) => typeof v === 'string');
      if (!bad && e.resumed_from_step !== undefined && !isNum(e.resumed_from_step)) bad = 'resumed_from_step';
      break;
    case 'progress':
      bad = need(['step', 'total_steps', 'epoch', 'loss', 'lr', 'tokens_per_s', 'elapsed_s'], isNum);
      break;
    case 'checkpoint':
      bad = need(['step'], isNum) ?? need(['path'], (v) => typeof v === 'string');
      break;
    case 'done':
      bad =
        need(['step', 'final_loss', 'first_loss', 'train_tokens', 'tokens_per_s'], isNum) ??
        need(['adapter_dir'], (v) => typeof v === 'string') ??
        need(['mfu'], (v) => v === undefined || v === null || isNum(v));
      break;
    default:
      return `unknown event ${JSON.stringify(e.event)}`;
  }
  return bad ? `${String(e.event)}: bad ${bad} in ${JSON.stringify(e)}` : null;
}

function expectClean(r: PythonRunResult<TrainerEvent>, what: string) {
  expect(r.badLines, `${what}: stdout lines that are not JSON`).toEqual([]);
  expect(r.events.map((e) => trainerEventProblem(e as unknown as Record<string, unknown>)).filter(Boolean), what).toEqual([]);
}

const ofKind = <K extends TrainerEvent['event']>(events: TrainerEvent[], kind: K) =>
  events.filter((e): e is Extract<TrainerEvent, { event: K }> => e.event === kind);

function words(s: string | null): Set<string> {
  return new Set((s ?? '').toLowerCase().match(/[a-z']+/g) ?? []);
}
/** Share of the reference's distinct words that the prediction has. */
function recall(pred: string, ref: string | null): number {
  const r = words(ref);
  const p = words(pred);
  return r.size ? [...r].filter((w) => p.has(w)).length / r.size : 0;
}

describe('LoRA trainer (scripts/trainer, .venv-train) on the CPU', () => {
  let dir: string;
  let modelDir: string;
  let trainFile: string;
  let evalFile: string;
  let evalRefs: string[];
  let configFile: string;
  let config: TrainerConfig;
  let first: PythonRunResult<TrainerEvent> | undefined;
  let missing: Error | undefined;
  const ready = () => {
    if (missing) throw missing;
  };

  beforeAll(async () => {
    if (!existsSync(TRAINER_PYTHON)) {
      missing = new Error(`${TRAINER_PYTHON} is missing: run scripts/setup (it creates .venv-train from scripts/trainer/requirements.txt)`);
      return;
    }
    dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-trainer-'));
    const data = loadSharedDataset('bitext-v1');
    const toChat = (e: { query: string; answer: string }): ChatExample => ({
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: e.query },
        { role: 'assistant', content: e.answer },
      ],
    });
    const train: ChatExample[] = [];
    const evalSet: ChatExample[] = [];
    for (const intent of INTENTS) {
      const rows = data.filter((e) => e.label === intent);
      expect(rows.length, intent).toBeGreaterThanOrEqual(104);
      train.push(...rows.slice(0, 100).map(toChat));
      evalSet.push(...rows.slice(100, 104).map(toChat));
    }
    evalRefs = evalSet.map((e) => e.messages.at(-1)!.content);
    trainFile = path.join(dir, 'train.jsonl');
    evalFile = path.join(dir, 'eval.jsonl');
    writeFileSync(trainFile, train.map((e) => JSON.stringify(e)).join('\n') + '\n');
    writeFileSync(evalFile, evalSet.map((e) => JSON.stringify(e)).join('\n') + '\n');

    modelDir = path.join(dir, 'tiny-model');
    const made = await runTrainerScript<{ event: string; vocab_size: number; params: number }>(
      MAKE_TINY_MODEL_SCRIPT,
      ['--data', trainFile, '--output', modelDir, '--seed', '1'],
      { env: ENV },
    ).done;
    expect(made.code, made.stderr).toBe(0);
    expect(made.events.at(-1)).toMatchObject({ event: 'done' });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) expect(existsSync(path.join(modelDir, f)), f).toBe(true);

    config = {
      baseModel: modelDir,
      lora: { r: 8, alpha: 16, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      learningRate: 0.01,
      epochs: 1,
      maxSteps: 30,
      maxLength: 256,
      packing: false,
      batchSize: 8,
      gradientAccumulation: 2,
      seed: 7,
      checkpointEvery: 10,
      precision: 'auto',
    };
    configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const train = (out: string, extra: string[] = [], opts: Parameters<typeof runTrainerScript<TrainerEvent>>[2] = {}) =>
    runTrainerScript<TrainerEvent>(TRAIN_LORA_SCRIPT, ['--data', trainFile, '--config', configFile, '--output', out, ...extra], {
      ...opts,
      env: { ...ENV, ...opts.env },
    });

  it('trains a LoRA adapter: TrainerEvent lines only, the loss falls, adapter and metrics written, last 2 checkpoints kept', async () => {
    ready();
    const out = path.join(dir, 'run');
    const started = Date.now();
    const r = await train(out).done;
    expect(r.code, r.stderr).toBe(0);
    expectClean(r, 'train');
    first = r;

    const [start, ...rest] = r.events;
    expect(start).toMatchObject({ event: 'start', total_steps: 30, device: 'cpu', precision: 'fp32' });
    expect(start).not.toHaveProperty('resumed_from_step');
    if (start?.event === 'start') {
      expect(start.trainable_params).toBeGreaterThan(0);
      expect(start.trainable_params).toBeLessThan(start.total_params);
    }
    const progress = ofKind(r.events, 'progress');
    expect(progress.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(ofKind(r.events, 'checkpoint').map((c) => c.step)).toEqual([10, 20, 30]); // every 10 steps and after the last
    const done = rest.at(-1);
    expect(done?.event).toBe('done');
    if (done?.event !== 'done') throw new Error('no done event');
    expect(done.step).toBe(30);
    expect(done.first_loss).toBe(progress[0]!.loss);
    expect(done.final_loss).toBe(progress.at(-1)!.loss);
    // a clear fall: more than half a nat from the random-init loss (≈ ln vocab)
    expect(done.final_loss).toBeLessThan(done.first_loss - 0.5);
    expect(done.mfu).toBeNull(); // CPU
    expect(done.train_tokens).toBeGreaterThan(0);
    expect(done.adapter_dir).toBe(path.join(out, 'adapter'));
    // the lr warms up, then decays
    expect(progress[1]!.lr).toBeGreaterThan(progress[0]!.lr);
    expect(progress.at(-1)!.lr).toBeLessThan(progress[5]!.lr);

    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) expect(existsSync(path.join(out, 'adapter', f)), f).toBe(true);
    const adapterConfig = JSON.parse(readFileSync(path.join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16 });
    expect([...adapterConfig.target_modules].sort()).toEqual([...config.lora.targetModules].sort());
    // the base by its portable name (the folder's name here, an unregistered base), never this machine's path
    expect(adapterConfig.base_model_name_or_path).toBe(path.basename(config.baseModel));
    expect(JSON.parse(readFileSync(path.join(out, 'adapter', 'distillery_base.json'), 'utf8'))).toEqual({ name: path.basename(config.baseModel) });
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics).toMatchObject({
      step: 30,
      final_loss: done.final_loss,
      first_loss: done.first_loss,
      train_tokens: done.train_tokens,
      adapter_dir: done.adapter_dir,
    });
    expect(metrics.loss_history).toHaveLength(30);
    expect(readdirSync(path.join(out, 'checkpoints')).sort()).toEqual(['step-20', 'step-30']);
    for (const f of ['adapter/adapter_model.safetensors', 'optimizer.pt', 'scheduler.pt', 'rng.pt', 'state.json']) {
      expect(existsSync(path.join(out, 'checkpoints', 'step-30', f)), f).toBe(true);
    }
    console.log(
      `[trainer] 30 steps on CPU in ${((Date.now() - started) / 1000).toFixed(1)} s (process), loss ${done.first_loss.toFixed(3)} -> ${done.final_loss.toFixed(3)}, ` +
        `${done.train_tokens} tokens, ${done.tokens_per_s.toFixed(0)} tokens/s`,
    );
  });

  it('generate.py: base + adapter answers differ from the base alone and are closer to the references', async () => {
    ready();
    if (!first) throw new Error('the training test did not produce an adapter');
    const gen = async (name: string, adapter?: string) => {
      const output = path.join(dir, `${name}.jsonl`);
      const args = ['--base', modelDir, '--data', evalFile, '--output', output, '--max-new-tokens', '32', ...(adapter ? ['--adapter', adapter] : [])];
      const r = await runTrainerScript<GenerateEvent>(GENERATE_SCRIPT, args, { env: ENV }).done;
      expect(r.code, r.stderr).toBe(0);
      expect(r.badLines).toEqual([]);
      const progress = r.events.filter((e) => e.event === 'progress');
      expect(progress.at(-1)).toEqual({ event: 'progress', done: evalRefs.length, total: evalRefs.length });
      expect(r.events.at(-1)).toMatchObject({ event: 'done', total: evalRefs.length, output });
      const rows = readFileSync(output, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Prediction);
      expect(rows.map((p) => p.index)).toEqual(evalRefs.map((_, i) => i));
      expect(rows.map((p) => p.reference)).toEqual(evalRefs);
      return rows;
    };
    const base = await gen('base');
    const tuned = await gen('tuned', path.join(dir, 'run', 'adapter'));
    const changed = tuned.filter((p, i) => p.prediction !== base[i]!.prediction).length;
    expect(changed).toBeGreaterThanOrEqual(Math.ceil(evalRefs.length / 2));
    const mean = (rows: Prediction[]) => rows.reduce((s, p) => s + recall(p.prediction, p.reference), 0) / rows.length;
    console.log(
      `[trainer] reference word recall: base ${mean(base).toFixed(3)}, base+adapter ${mean(tuned).toFixed(3)}; e.g. ${JSON.stringify(tuned[0]!.prediction.slice(0, 80))}`,
    );
    expect(mean(tuned)).toBeGreaterThan(mean(base) + 0.1);
  });

  it('SIGTERM after the first checkpoint exits 143 with a checkpoint; the rerun resumes there and ends exactly where the uninterrupted run did', async () => {
    ready();
    if (!first) throw new Error('the training test did not run');
    const out = path.join(dir, 'interrupted');
    let signalledAt = 0;
    // The step delay (a test hook of train_lora.py) keeps the tiny run from finishing before the signal lands.
    const killed = await train(out, [], {
      env: { DISTILLERY_TRAINER_STEP_DELAY_MS: '150' },
      onEvent: (e, child) => {
        if (e.event === 'checkpoint' && !signalledAt) {
          signalledAt = Date.now();
          child.kill('SIGTERM');
        }
      },
    }).done;
    const exitedAfterMs = Date.now() - signalledAt;
    expect(signalledAt).toBeGreaterThan(0);
    expect(killed.code, killed.stderr).toBe(143);
    expectClean(killed, 'interrupted');
    expect(exitedAfterMs).toBeLessThan(10_000);
    expect(ofKind(killed.events, 'done')).toEqual([]);
    const lastCheckpoint = ofKind(killed.events, 'checkpoint').at(-1)!;
    expect(lastCheckpoint.step).toBeGreaterThanOrEqual(10);
    expect(lastCheckpoint.step).toBeLessThan(30);
    expect(existsSync(path.join(lastCheckpoint.path, 'state.json'))).toBe(true);
    expect(existsSync(path.join(out, 'adapter'))).toBe(false);

    const resumed = await train(out, ['--resume']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expectClean(resumed, 'resumed');
    expect(resumed.events[0]).toMatchObject({ event: 'start', total_steps: 30, resumed_from_step: lastCheckpoint.step });
    const progress = ofKind(resumed.events, 'progress');
    expect(progress[0]!.step).toBe(lastCheckpoint.step + 1);
    const done = ofKind(resumed.events, 'done')[0]!;
    expect(done.step).toBe(30);

    // the same result as the uninterrupted run: losses step by step, tokens, and the adapter bytes
    const a = JSON.parse(readFileSync(path.join(dir, 'run', 'metrics.json'), 'utf8'));
    const b = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(b.loss_history.map((h: { step: number }) => h.step)).toEqual(a.loss_history.map((h: { step: number }) => h.step));
    b.loss_history.forEach((h: { loss: number }, i: number) => expect(h.loss).toBeCloseTo(a.loss_history[i].loss, 6));
    expect(b.train_tokens).toBe(a.train_tokens);
    expect(done.final_loss).toBeCloseTo(ofKind(first.events, 'done')[0]!.final_loss, 6);
    const adapterA = readFileSync(path.join(dir, 'run', 'adapter', 'adapter_model.safetensors'));
    const adapterB = readFileSync(path.join(out, 'adapter', 'adapter_model.safetensors'));
    expect(adapterB.equals(adapterA)).toBe(true);
  });

  it('refuses to resume a checkpoint made from another data file or config: exit 3, a clear message, nothing trained', async () => {
    ready();
    if (!first) throw new Error('the training test did not run');
    const out = path.join(dir, 'run'); // its checkpoints are of trainFile with config
    const before = readdirSync(path.join(out, 'checkpoints')).sort();
    const otherData = path.join(dir, 'other-train.jsonl');
    writeFileSync(otherData, readFileSync(trainFile, 'utf8').split('\n').slice(1).join('\n'));
    const otherConfig = path.join(dir, 'other-config.json');
    writeFileSync(otherConfig, JSON.stringify({ ...config, learningRate: 0.02 }));
    for (const [what, args] of [
      ['another data file', ['--data', otherData, '--config', configFile]],
      ['another config', ['--data', trainFile, '--config', otherConfig]],
    ] as const) {
      const r = await runTrainerScript<TrainerEvent>(TRAIN_LORA_SCRIPT, [...args, '--output', out, '--resume'], { env: ENV }).done;
      expect(r.code, `${what}: ${r.stderr}`).toBe(3);
      expect(r.stderr, what).toMatch(/step-30 was made from another data file or config \(fingerprint \w+, this run \w+\): not resuming it/);
      expect(r.events, what).toEqual([]);
      expect(readdirSync(path.join(out, 'checkpoints')).sort(), what).toEqual(before);
    }
    // checkpointEvery changes no training: the same run may resume with another one (it is already done: step 30)
    writeFileSync(otherConfig, JSON.stringify({ ...config, checkpointEvery: 5 }));
    const same = await runTrainerScript<TrainerEvent>(TRAIN_LORA_SCRIPT, ['--data', trainFile, '--config', otherConfig, '--output', out], { env: ENV }).done;
    expect(same.code, same.stderr).toBe(0);
    expect(same.events[0]).toMatchObject({ event: 'start', resumed_from_step: 30 });
  });
});
