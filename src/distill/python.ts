import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Where the Python LoRA trainer lives: .venv-train (created by scripts/setup from scripts/trainer/requirements.txt)
 * and the scripts under scripts/trainer. Each script prints JSON lines on stdout only (TrainerEvent for
 * train_lora.py, GenerateEvent for generate.py) and logs on stderr.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TRAINER_PYTHON = process.env.DISTILLERY_TRAINER_PYTHON ?? path.join(REPO_ROOT, '.venv-train', 'bin', 'python');
export const TRAINER_DIR = path.join(REPO_ROOT, 'scripts', 'trainer');
export const TRAIN_LORA_SCRIPT = path.join(TRAINER_DIR, 'train_lora.py');
export const GENERATE_SCRIPT = path.join(TRAINER_DIR, 'generate.py');
export const MAKE_TINY_MODEL_SCRIPT = path.join(TRAINER_DIR, 'make_tiny_model.py');

/** Environment every trainer script runs with: offline (nothing is downloaded at run time), unbuffered output. */
export const TRAINER_ENV = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false', PYTHONUNBUFFERED: '1' } as const;

/** Variables a trainer script may inherit, by exact name: the system basics, thread counts, the scripts' own knobs. */
const INHERITED = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TERM',
  'LD_LIBRARY_PATH',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  'OPENBLAS_NUM_THREADS',
  'DISTILLERY_PEAK_FLOPS',
  'DISTILLERY_TRAINER_STEP_DELAY_MS',
  'DISTILLERY_MODELS_DIR',
]);
/** ... and by prefix: locale, CUDA/NVIDIA device selection, torch, Hugging Face and tokenizer settings. */
const INHERITED_PREFIXES = ['LC_', 'CUDA_', 'NVIDIA_', 'NCCL_', 'TORCH', 'PYTORCH_', 'TRITON_', 'HF_', 'TRANSFORMERS_', 'TOKENIZERS_'];
/** Never passed on, even under an allowed prefix: credentials. */
const SECRET = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|API_?KEY|ACCESS_KEY)(_|$)/i;

/**
 * The environment of a trainer subprocess: only what it needs from `parent` (see INHERITED), plus TRAINER_ENV and
 * `extra`. The worker's own environment holds database, blob-store and API credentials; a training script (and
 * whatever model code it loads) has no use for them, so they are not inherited. `extra` is the caller's, kept as given.
 */
export function trainerEnv(parent: NodeJS.ProcessEnv = process.env, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(parent)) {
    if (v === undefined || SECRET.test(k)) continue;
    if (INHERITED.has(k) || INHERITED_PREFIXES.some((p) => k.startsWith(p))) env[k] = v;
  }
  return { ...env, ...TRAINER_ENV, ...extra };
}

/** Lines generate.py prints on stdout. */
export type GenerateEvent =
  | { event: 'progress'; done: number; total: number }
  | { event: 'done'; total: number; output: string; device: string; generated_tokens: number; tokens_per_s: number; elapsed_s: number };

/** One line of predictions.jsonl written by generate.py. */
export interface Prediction {
  index: number;
  prediction: string;
  reference: string | null;
}

export interface PythonRunResult<E> {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: E[];
  /** stdout lines that were not JSON objects (the scripts print none). */
  badLines: string[];
  /** The last 8000 characters of stderr. */
  stderr: string;
}

export interface PythonRun<E> {
  child: ChildProcess;
  /** Events so far, in order. */
  events: E[];
  done: Promise<PythonRunResult<E>>;
}

/**
 * Runs one of the trainer scripts with the trainer venv's python, collecting the JSON lines it prints; `onEvent` sees
 * each as it comes (to send a signal at a given point, say). Offline: HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE are set.
 */
export function runTrainerScript<E = unknown>(
  script: string,
  args: string[],
  opts: { python?: string; env?: NodeJS.ProcessEnv; cwd?: string; onEvent?: (event: E, child: ChildProcess) => void } = {},
): PythonRun<E> {
  const python = opts.python ?? TRAINER_PYTHON;
  if (!existsSync(python)) {
    throw new Error(`trainer venv not found (${python}): run scripts/setup, which creates .venv-train from scripts/trainer/requirements.txt`);
  }
  const child = spawn(python, [script, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: trainerEnv(process.env, opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: E[] = [];
  const badLines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      badLines.push(line);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      badLines.push(line);
      return;
    }
    events.push(parsed as E);
    opts.onEvent?.(parsed as E, child);
  });
  const closed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
  const done = new Promise<PythonRunResult<E>>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      void closed.then(() => resolve({ code, signal, events, badLines, stderr }));
    });
  });
  return { child, events, done };
}
