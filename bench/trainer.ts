/**
 * LoRA trainer throughput (run by hand): tokens/s and MFU of scripts/trainer/train_lora.py on a model of a real
 * model's shape with random weights (scripts/trainer/make_random_model.py; nothing is downloaded).
 *
 *   npx tsx bench/trainer.ts [--preset tiny|qwen-0.5b|llama-1b] [--steps N] [--batch B] [--max-length L]
 *                            [--packing | --no-packing] [--grad-accum G] [--r 16] [--precision auto|bf16|fp32]
 *                            [--model-dir DIR] [--keep]
 *
 * On an H100 (the goal: MFU >= 35%, by the trainer's formula below):
 *
 *   npx tsx bench/trainer.ts --preset qwen-0.5b --steps 30 --batch 8 --max-length 2048 --packing
 *
 * What it does: writes bitext v2 (../shared/data, long answers) as ChatExample JSONL, builds the preset's model and a
 * tokenizer trained on that text, then runs train_lora.py with LoRA r 16 (alpha 2r, dropout 0.05, the CLI's defaults)
 * on every linear projection (q/k/v/o, gate/up/down) for N optimizer steps, with no checkpoint inside the run. The
 * rate leaves out the first 2 steps (CUDA context, allocator and kernel warm-up): tokens of steps 3..N (metrics.json
 * loss_history) over the time between the progress events of steps 2 and N. Tokens are the non-padding tokens fed
 * to the model. MFU: the trainer's own LoRA formula (train_lora.py lora_train_flops: 4 per frozen matmul weight,
 * 6 per adapter weight, plus the attention term, per token, over training time only) and peak (its table of bf16
 * dense peaks by GPU name, or DISTILLERY_PEAK_FLOPS); n/a on the CPU.
 *
 * Defaults: on CUDA, qwen-0.5b, 30 steps, batch 8 x max length 2048, packing (16k tokens a step); on the CPU, tiny,
 * 10 steps, batch 4 x 256, no packing. Each flag overrides its default. The device is what the trainer venv's torch
 * sees (torch.cuda.is_available()).
 *
 * Knobs that matter for MFU on a GPU, as train_lora.py supports them:
 * - precision: bf16 (the default on CUDA with --precision auto): the base model is loaded in bf16 and run under bf16
 *   autocast; fp32 runs use TF32 tensor cores but land far below the bf16 peak.
 * - tokens per step: at least ~8k (batch x max length with --packing); a small model's kernels are too small to fill
 *   an H100 below that. --grad-accum multiplies the tokens per optimizer step, not the size of each kernel.
 * - packing: blocks of exactly max length, no padding (padding is computed but not counted); without it each batch
 *   is padded to its longest example (bitext v2 examples are ~190 tokens).
 * - the trainer has no gradient checkpointing (nothing is recomputed) and no torch.compile; attention is PyTorch SDPA
 *   (transformers' default; its flash kernel when a batch needs no padding mask, as with --packing); AdamW is fused
 *   on CUDA; the trainer's own code makes a step wait for the GPU once, at its end (to read the loss).
 * - --max-length: attention FLOPs, not in 6·N, grow with it; 1024-2048 keeps them small for these shapes.
 * - --model-dir DIR: reuse (or keep) the random model between runs (made there when it has no config.json).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSharedDataset } from '../src/datasets/shared';
import { TRAIN_LORA_SCRIPT, TRAINER_DIR, TRAINER_ENV, TRAINER_PYTHON, runTrainerScript } from '../src/distill/python';
import type { ChatExample, TrainerConfig, TrainerEvent } from '../src/distill/types';

const MAKE_RANDOM_MODEL_SCRIPT = path.join(TRAINER_DIR, 'make_random_model.py');
const PRESETS = ['tiny', 'qwen-0.5b', 'llama-1b'] as const;
type Preset = (typeof PRESETS)[number];
/** Optimizer steps left out of the rate (the first ones carry one-time costs). */
const WARMUP_STEPS = 2;
const GOAL_MFU = 0.35;

const { values: args } = parseArgs({
  options: {
    preset: { type: 'string' },
    steps: { type: 'string' },
    batch: { type: 'string' },
    'max-length': { type: 'string' },
    packing: { type: 'boolean' },
    'no-packing': { type: 'boolean' },
    'grad-accum': { type: 'string', default: '1' },
    r: { type: 'string', default: '16' },
    precision: { type: 'string', default: 'auto' },
    'model-dir': { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

interface MadeModel {
  event: 'done';
  output: string;
  preset: Preset;
  model_type: string;
  vocab_size: number;
  tokenizer_vocab: number;
  params: number;
}

interface Metrics {
  tokens_per_s: number;
  mfu: number | null;
  elapsed_s: number;
  train_tokens: number;
  peak_flops: number | null;
  peak_memory_bytes?: number | null;
  loss_history: Array<{ step: number; loss: number; lr: number; tokens: number }>;
}

const int = (name: string, v: string | undefined, def: number): number => {
  const n = v === undefined ? def : Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return n;
};
const fmt = (n: number) => Math.round(n).toLocaleString('en');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

function probeDevice(): { cuda: boolean; name: string } {
  if (!existsSync(TRAINER_PYTHON)) throw new Error(`trainer venv not found (${TRAINER_PYTHON}): run scripts/setup`);
  const code = 'import json, torch; c = torch.cuda.is_available(); print(json.dumps({"cuda": c, "name": torch.cuda.get_device_name(0) if c else "cpu"}))';
  const r = spawnSync(TRAINER_PYTHON, ['-c', code], { encoding: 'utf8', env: { ...process.env, ...TRAINER_ENV } });
  if (r.status !== 0) throw new Error(`could not ask torch for the device: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { cuda: boolean; name: string };
}

async function main(): Promise<void> {
  const probe = probeDevice();
  const preset = (args.preset ?? (probe.cuda ? 'qwen-0.5b' : 'tiny')) as Preset;
  if (!PRESETS.includes(preset)) throw new Error(`--preset must be one of ${PRESETS.join(', ')}`);
  const steps = int('steps', args.steps, probe.cuda ? 30 : 10);
  const batch = int('batch', args.batch, probe.cuda ? 8 : 4);
  const maxLength = int('max-length', args['max-length'], probe.cuda ? 2048 : 256);
  const packing = args['no-packing'] ? false : (args.packing ?? probe.cuda);
  const gradAccum = int('grad-accum', args['grad-accum'], 1);
  const r = int('r', args.r, 16);
  const precision = args.precision as TrainerConfig['precision'];
  if (!['auto', 'bf16', 'fp32'].includes(precision!)) throw new Error('--precision must be auto, bf16 or fp32');

  const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-bench-trainer-'));
  try {
    // data: bitext v2 as the trainer's ChatExample JSONL (all of it: the order is the trainer's seeded shuffle)
    const examples: ChatExample[] = loadSharedDataset('bitext-v2').map((e) => ({
      messages: [
        { role: 'system', content: 'You are a helpful customer support assistant.' },
        { role: 'user', content: e.query },
        { role: 'assistant', content: e.answer },
      ],
    }));
    const dataFile = path.join(work, 'train.jsonl');
    writeFileSync(dataFile, examples.map((e) => JSON.stringify(e)).join('\n') + '\n');

    // model
    const modelDir = args['model-dir'] ? path.resolve(args['model-dir']) : path.join(work, 'model');
    let made: MadeModel | null = null;
    const t0 = performance.now();
    if (existsSync(path.join(modelDir, 'config.json'))) {
      console.error(`reusing the model in ${modelDir} (--preset is not checked against it)`);
    } else {
      mkdirSync(modelDir, { recursive: true });
      console.error(`making a random ${preset} model in ${modelDir} ...`);
      const m = await runTrainerScript<MadeModel>(MAKE_RANDOM_MODEL_SCRIPT, ['--preset', preset, '--data', dataFile, '--output', modelDir]).done;
      if (m.code !== 0) throw new Error(`make_random_model.py failed (${m.code ?? m.signal}):\n${m.stderr}`);
      made = m.events.at(-1) ?? null;
    }
    const makeSeconds = (performance.now() - t0) / 1000;

    // training
    const config: TrainerConfig = {
      baseModel: modelDir,
      lora: { r, alpha: 2 * r, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] },
      learningRate: 2e-4,
      epochs: 1,
      maxSteps: steps,
      maxLength,
      packing,
      batchSize: batch,
      gradientAccumulation: gradAccum,
      seed: 0,
      checkpointEvery: steps, // no checkpoint inside the timed steps (the trainer writes the last one after them)
      precision,
    };
    const configFile = path.join(work, 'config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const out = path.join(work, 'run');
    console.error(`training ${steps} steps ...`);
    const run = await runTrainerScript<TrainerEvent>(TRAIN_LORA_SCRIPT, ['--data', dataFile, '--config', configFile, '--output', out], {
      onEvent: (e) => {
        if (e.event === 'progress')
          console.error(`  step ${e.step}/${e.total_steps}  loss ${e.loss.toFixed(4)}  ${e.elapsed_s.toFixed(2)} s  ${fmt(e.tokens_per_s)} tokens/s so far`);
      },
    }).done;
    if (run.code !== 0) throw new Error(`train_lora.py failed (${run.code ?? run.signal}):\n${run.stderr}`);
    const start = run.events.find((e) => e.event === 'start');
    const done = run.events.find((e) => e.event === 'done');
    if (start?.event !== 'start' || done?.event !== 'done') throw new Error(`train_lora.py printed no start/done event:\n${run.stderr}`);
    const progress = new Map<number, number>();
    for (const e of run.events) if (e.event === 'progress') progress.set(e.step, e.elapsed_s);
    const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as Metrics;
    const sequences = /examples -> (\d+) sequences/.exec(run.stderr)?.[1];

    // steady rate: steps WARMUP_STEPS+1..N
    const hist = metrics.loss_history;
    const timed = hist.filter((h) => h.step > WARMUP_STEPS);
    const tFrom = progress.get(WARMUP_STEPS);
    const tTo = progress.get(steps);
    const steady = timed.length > 0 && tFrom !== undefined && tTo !== undefined && tTo > tFrom;
    const tokens = steady ? timed.reduce((a, h) => a + h.tokens, 0) : metrics.train_tokens;
    const seconds = steady ? tTo! - tFrom! : metrics.elapsed_s;
    const tokensPerS = tokens / seconds;
    const stepTimes: number[] = [];
    for (let s = WARMUP_STEPS + 1; s <= steps; s++) {
      const a = progress.get(s - 1);
      const b = progress.get(s);
      if (a !== undefined && b !== undefined) stepTimes.push(b - a);
    }
    stepTimes.sort((a, b) => a - b);
    const params = start.total_params;
    const peak = metrics.peak_flops;
    const cuda = start.device === 'cuda';

    console.log(
      `trainer throughput: scripts/trainer/train_lora.py, preset ${preset}${made ? ` (${made.model_type}, random weights; made in ${makeSeconds.toFixed(1)} s)` : ''}`,
    );
    console.log(
      `device: ${start.device} (${start.device_name ?? '?'}), precision ${start.precision ?? '?'}${cuda ? '' : `, ${os.availableParallelism()} CPU cores (${os.cpus()[0]?.model ?? '?'})`}`,
    );
    console.log(
      `params: ${fmt(params)} total${made ? ` (vocab ${fmt(made.vocab_size)}; tokenizer trained on the data: ${fmt(made.tokenizer_vocab)} tokens)` : ''}; trainable ${fmt(start.trainable_params)} (${pct(start.trainable_params / params)}), LoRA r ${r} on ${config.lora.targetModules.join(', ')}`,
    );
    console.log(
      `data: bitext v2, ${examples.length} examples${sequences ? ` -> ${sequences} sequences` : ''}${packing ? ` (packed into ${maxLength}-token blocks)` : ' (one per example, padded per batch)'}`,
    );
    console.log(`config: ${JSON.stringify({ ...config, baseModel: made ? `<random ${preset}>` : modelDir })}`);
    const perStep = tokens / Math.max(1, steady ? timed.length : hist.length);
    console.log(
      `tokens per step: ${fmt(perStep)} (batch ${batch} x grad-accum ${gradAccum}, max length ${maxLength})${cuda && perStep < 8192 ? '  <- under 8k: raise --batch / --max-length (with --packing) for a full GPU' : ''}`,
    );
    if (steady) {
      const med = stepTimes[Math.floor(stepTimes.length / 2)]!;
      console.log(
        `rate: ${fmt(tokensPerS)} tokens/s over steps ${WARMUP_STEPS + 1}..${steps} (${fmt(tokens)} tokens in ${seconds.toFixed(3)} s; step time median ${(1000 * med).toFixed(1)} ms, min ${(1000 * stepTimes[0]!).toFixed(1)} ms, max ${(1000 * stepTimes.at(-1)!).toFixed(1)} ms)`,
      );
    } else {
      console.log(`rate: ${fmt(tokensPerS)} tokens/s over the whole run (${steps} steps: too few to leave out ${WARMUP_STEPS} warm-up steps)`);
    }
    console.log(
      `whole run, warm-up included (done event): ${fmt(done.tokens_per_s)} tokens/s in ${metrics.elapsed_s.toFixed(2)} s, MFU ${done.mfu == null ? 'n/a' : pct(done.mfu)}`,
    );
    if (!cuda) {
      console.log('MFU: n/a on CPU');
    } else if (!peak) {
      console.log(`MFU: n/a (no peak FLOP/s known for ${start.device_name}: set DISTILLERY_PEAK_FLOPS)`);
    } else {
      // The trainer's LoRA FLOP count (4 per frozen weight, 6 per adapter weight, attention) over the whole run,
      // scaled to the steady rate: the FLOPs per token do not change between steps.
      const mfu = done.mfu == null ? 0 : (done.mfu * tokensPerS) / Math.max(1e-9, done.tokens_per_s);
      console.log(
        `MFU: ${pct(mfu)} (LoRA model FLOPs at ${fmt(tokensPerS)} tokens/s / ${(peak / 1e12).toFixed(0)} TFLOP/s peak; ${fmt(params)} params); goal >= ${pct(GOAL_MFU)}: ${mfu >= GOAL_MFU ? 'met' : 'NOT met'}`,
      );
    }
    const mem = metrics.peak_memory_bytes;
    console.log(`peak memory: ${mem == null ? 'not reported' : `${gib(mem)} (${cuda ? 'GPU memory allocated by torch' : 'peak RSS of the trainer process'})`}`);
    console.log(`loss: ${done.first_loss.toFixed(4)} -> ${done.final_loss.toFixed(4)} (random weights: only a sanity check)`);
    if (args.keep) console.log(`kept: ${work}`);
  } finally {
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
