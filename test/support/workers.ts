import path from 'node:path';
import { spawnCli } from './cli';
import type { Stack } from './stack';

/**
 * A worker as its own process, as in production (`distillery worker [--queue gpu]`), on a test file's task queues.
 * `killGroup` signals the whole process group (tsx runs the CLI in a child process), as a lost machine would.
 */
export function workerProcess(stack: Stack, queue: 'cpu' | 'gpu', dataDir: string, extraEnv: Record<string, string> = {}) {
  const w = spawnCli(
    ['worker', '--queue', queue],
    {
      ...stack.env,
      TEMPORAL_GPU_TASK_QUEUE: stack.temporal.gpuTaskQueue,
      DISTILLERY_DATA_DIR: path.resolve(dataDir),
      LOG_LEVEL: 'warn',
      // One thread for the tiny trainer model on a shared 2-core VM.
      OMP_NUM_THREADS: '1',
      ...extraEnv,
    },
    { detached: true },
  );
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-w.pid!, signal);
    } catch {
      // already gone
    }
  };
  /**
   * Stops it for good: SIGTERM to the group (a graceful drain), then SIGKILL to whatever is left after `graceMs` —
   * a worker whose Temporal server is already gone can wait forever, and must not outlive the tests.
   */
  const stop = async (graceMs = 5_000) => {
    killGroup('SIGTERM');
    await Promise.race([w.exited, new Promise((r) => setTimeout(r, graceMs))]);
    killGroup('SIGKILL');
    await w.exited;
  };
  return Object.assign(w, { killGroup, stop });
}

/** Polls until `probe` returns a value (not undefined). */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
