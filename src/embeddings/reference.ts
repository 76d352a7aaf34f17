import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The reference implementation of all-MiniLM-L6-v2, for tests and benchmarks only: sentence-transformers (CPU
 * torch) and the Hugging Face `tokenizers` package in .venv-ref, behind scripts/models/minilm_reference.py. One
 * long-lived Python process answers JSON-line requests, so the model is loaded once.
 */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const REFERENCE_PYTHON = path.join(REPO_ROOT, '.venv-ref', 'bin', 'python');
export const REFERENCE_SCRIPT = path.join(REPO_ROOT, 'scripts', 'models', 'minilm_reference.py');

export class ReferenceModel {
  private readonly pending: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private stderr = '';
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const p = this.pending.shift();
      if (!p) return;
      try {
        const msg = JSON.parse(line) as { error?: string; trace?: string };
        if (msg.error) p.reject(new Error(`reference model: ${msg.error}\n${msg.trace ?? ''}`));
        else p.resolve(msg);
      } catch (err) {
        p.reject(new Error(`reference model: bad answer ${line.slice(0, 200)}: ${String(err)}`));
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`reference model process exited (${signal ?? code}); stderr:\n${this.stderr}`);
      for (const p of this.pending.splice(0)) p.reject(this.exited);
    });
  }

  /** Starts the reference process; throws (never skips) when .venv-ref is missing. */
  static start(opts: { python?: string; env?: NodeJS.ProcessEnv } = {}): ReferenceModel {
    const python = opts.python ?? REFERENCE_PYTHON;
    if (!existsSync(python)) {
      throw new Error(`reference venv not found (${python}): run scripts/setup, which creates .venv-ref with sentence-transformers`);
    }
    const child = spawn(python, [REFERENCE_SCRIPT], {
      cwd: REPO_ROOT,
      env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new ReferenceModel(child);
  }

  request<T>(req: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** Token ids from the HF `tokenizers` package (with [CLS]/[SEP], truncated to max_seq_length, no padding). */
  async tokenize(texts: string[]): Promise<number[][]> {
    return (await this.request<{ ids: number[][] }>({ mode: 'tokenize', texts })).ids;
  }

  /** sentence-transformers vectors (mean pooling + Normalize). */
  async embed(texts: string[], batchSize = 32): Promise<Float32Array[]> {
    const res = await this.request<{ vectors: string[] }>({ mode: 'embed', texts, batch_size: batchSize });
    return res.vectors.map((b64) => {
      const buf = Buffer.from(b64, 'base64');
      return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    });
  }

  /** Seconds for one SentenceTransformer.encode(texts, batch_size) (model load excluded). */
  async time(texts: string[], batchSize: number, threads = 0): Promise<{ seconds: number; threads: number; torch: string }> {
    return this.request({ mode: 'time', texts, batch_size: batchSize, threads });
  }

  async info(): Promise<Record<string, string>> {
    return this.request({ mode: 'info' });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  }
}
