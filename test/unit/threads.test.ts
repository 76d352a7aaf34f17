import { describe, expect, it } from 'vitest';
import { ThreadTaskError, runInThread } from '../../src/threads/run';

const TASKS = new URL('./fixtures/thread-tasks.ts', import.meta.url);

describe('runInThread', () => {
  it('runs a TypeScript task in a worker thread, moving buffers both ways and reporting progress', async () => {
    const values = Float64Array.from({ length: 5000 }, (_, i) => i);
    const progress: unknown[] = [];
    const out = await runInThread<{ values: Float64Array }, { sum: number; doubled: Float64Array }>(TASKS, 'sumAndDouble', { values }, {
      transfer: [values.buffer],
      onProgress: (p) => progress.push(p),
    });
    expect(out.sum).toBe((4999 * 5000) / 2);
    expect(out.doubled[4999]).toBe(9998);
    expect(values.length).toBe(0); // moved, not copied
    expect(progress.length).toBe(5);
  });

  it('re-throws the thread error with its name and message', async () => {
    const err = await runInThread(TASKS, 'fails', { why: 'k must be positive' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThreadTaskError);
    expect((err as Error).name).toBe('RangeError');
    expect((err as Error).message).toBe('k must be positive');
  });

  it('keeps the event loop free while the thread computes, and stops the thread on abort', async () => {
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(Date.now()), 20);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled')), 400);
    const started = Date.now();
    const err = await runInThread(TASKS, 'spin', { ms: 5000 }, { signal: ac.signal }).catch((e: unknown) => e);
    clearInterval(timer);
    expect((err as Error).message).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(ticks.length).toBeGreaterThan(5); // timers (heartbeats) fired while the thread spun
  });

  it('names a missing export', async () => {
    await expect(runInThread(TASKS, 'nope', {})).rejects.toThrow(/has no exported function nope/);
  });
});
