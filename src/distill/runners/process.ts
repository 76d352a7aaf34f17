import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { trainerEnv } from '../python';

/**
 * Runs a Python script that prints one JSON event per stdout line (the trainer's contract), for runners: unlike
 * runTrainerScript (python.ts, which hands tests the child process), it can be aborted and awaits each event. Events are handed over
 * in order, each awaited before the next; stderr is kept (last lines) for the error message. Aborting sends
 * SIGTERM to its process group (the trainer checkpoints and exits), then SIGKILL after `killAfterMs`; the promise
 * settles only once the process has exited, so a caller that marks the job stopped knows it has.
 */
export async function runJsonLines(
  python: string,
  args: string[],
  opts: { signal: AbortSignal; onEvent: (e: Record<string, unknown>) => Promise<void> | void; env?: NodeJS.ProcessEnv; killAfterMs?: number; what: string },
): Promise<void> {
  if (opts.signal.aborted) throw abortError(opts.what);
  // Its own process group (detached), so a stop reaches whatever the script starts too; it still dies with this
  // process (train_lora.py asks for PR_SET_PDEATHSIG).
  const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: trainerEnv(process.env, opts.env), detached: true });
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      child.kill(sig); // the group is gone (or never formed): the child alone
    }
  };
  const stderr: string[] = [];
  child.stderr.setEncoding('utf8');
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > 40) stderr.shift();
  });
  let chain: Promise<void> = Promise.resolve();
  let failed: unknown;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const t = line.trim();
    if (!t.startsWith('{')) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(t) as Record<string, unknown>;
    } catch {
      return;
    }
    chain = chain
      .then(() => opts.onEvent(e))
      .catch((err: unknown) => {
        failed ??= err;
        signalGroup('SIGTERM');
      });
  });
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    signalGroup('SIGTERM');
    killTimer = setTimeout(() => signalGroup('SIGKILL'), opts.killAfterMs ?? 30_000);
  };
  opts.signal.addEventListener('abort', onAbort, { once: true });
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => {
    opts.signal.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
  });
  await chain;
  if (failed) throw failed;
  if (opts.signal.aborted) throw abortError(opts.what);
  if (code !== 0) throw new Error(`${opts.what} failed (${signal ?? `exit ${code}`}): ${stderr.slice(-8).join(' | ') || 'no output'}`);
}

function abortError(what: string): Error {
  const e = new Error(`${what} cancelled`);
  e.name = 'AbortError';
  return e;
}
