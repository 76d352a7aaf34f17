import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { BlobStore } from '../blob';
import { TRAINER_DIR, TRAINER_PYTHON, trainerEnv } from '../distill/python';
import { cachedAdapter } from './cache';
import type { ExportableAdapter } from './export';

export const ADAPTER_SERVER_SCRIPT = path.join(TRAINER_DIR, 'adapter_server.py');

export interface AdapterServerOptions {
  /** Registered base name or local save_pretrained folder. */
  base: string;
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  maxQueue?: number;
  maxBatch?: number;
  timeoutS?: number;
  maxNewTokens?: number;
  /** How long loading the base may take before start fails. */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  python?: string;
}

export interface AdapterServer {
  /** The OpenAI base URL, http://host:port/v1. */
  baseURL: string;
  port: number;
  base: string;
  child: ChildProcess;
  /** Loads (or replaces) an adapter from a local folder; `name` becomes its OpenAI `model`. */
  loadAdapter(name: string, dir: string, digest?: string): Promise<void>;
  health(): Promise<{ status: string; base: string; base_loads: number; adapters: string[]; queued: number }>;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
  close(): Promise<void>;
}

/**
 * Starts scripts/trainer/adapter_server.py (the OpenAI-compatible multi-LoRA server) with the trainer venv and
 * waits for its ready line. The process dies with this one (it asks for PR_SET_PDEATHSIG).
 */
export async function startAdapterServer(opts: AdapterServerOptions): Promise<AdapterServer> {
  const host = opts.host ?? '127.0.0.1';
  const args = [ADAPTER_SERVER_SCRIPT, '--base', opts.base, '--host', host, '--port', String(opts.port ?? 0)];
  if (opts.maxQueue) args.push('--max-queue', String(opts.maxQueue));
  if (opts.maxBatch) args.push('--max-batch', String(opts.maxBatch));
  if (opts.timeoutS) args.push('--timeout-s', String(opts.timeoutS));
  if (opts.maxNewTokens) args.push('--max-new-tokens', String(opts.maxNewTokens));
  const child = spawn(opts.python ?? TRAINER_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env: trainerEnv(process.env, opts.env) });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    if (/it\/s\]$/.test(l)) return; // progress bars
    stderr.push(l);
    if (stderr.length > 30) stderr.shift();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`adapter server did not start within ${(opts.startTimeoutMs ?? 180_000) / 1000} s: ${stderr.slice(-5).join(' | ')}`));
    }, opts.startTimeoutMs ?? 180_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { event?: string; port?: number };
        if (e.event === 'ready' && typeof e.port === 'number') {
          clearTimeout(timer);
          resolve(e.port);
        }
      } catch {
        // not an event line
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`adapter server exited (${signal ?? `exit ${code}`}) before it was ready: ${stderr.slice(-6).join(' | ') || 'no output'}`));
    });
  });
  const root = `http://${host}:${port}`;
  const call = async <T>(p: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${root}${p}`, { ...init, signal: AbortSignal.timeout(120_000) });
    const body = (await res.json()) as T & { error?: { message: string } };
    if (!res.ok) throw new Error(`adapter server ${p}: ${res.status} ${body.error?.message ?? ''}`);
    return body;
  };
  return {
    baseURL: `${root}/v1`,
    port,
    base: opts.base,
    child,
    async loadAdapter(name, dir, digest) {
      await call('/admin/adapters', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, path: dir, digest }) });
    },
    health: () => call('/health'),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * Puts registered adapters on a running server: each is fetched from the blob store by digest into the local cache
 * (cachedAdapter, verified) and loaded under its serving name; the base stays loaded. Adapters of another base are
 * refused (a server serves one base). Returns the names loaded.
 */
export async function serveRegisteredAdapters(
  server: AdapterServer,
  blob: BlobStore,
  adapters: readonly ExportableAdapter[],
  cacheDir: string,
): Promise<string[]> {
  const health = await server.health();
  const loaded: string[] = [];
  for (const a of adapters) {
    if (a.baseModel !== health.base) throw new Error(`adapter ${a.name} is for base ${a.baseModel}, this server serves ${health.base}`);
    await server.loadAdapter(a.name, await cachedAdapter(blob, a.prefix, a.adapterDigest, cacheDir), a.adapterDigest);
    loaded.push(a.name);
  }
  return loaded;
}
