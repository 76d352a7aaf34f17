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

describe('clustering in a worker thread', () => {
  it('gives the same clusters, ids and descriptions as the same step on this thread (native index included)', async () => {
    const { clusterSnapshot } = await import('../../src/clustering/thread');
    const dims = 8;
    const n = 300;
    let s = 7;
    const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32 - 0.5);
    const centres = Array.from({ length: 3 }, () => Array.from({ length: dims }, rnd));
    const vectors = new Float32Array(n * dims);
    for (let i = 0; i < n; i++) {
      const c = centres[i % 3]!;
      let norm = 0;
      for (let j = 0; j < dims; j++) norm += (vectors[i * dims + j] = c[j]! + rnd() * 0.05) ** 2;
      for (let j = 0; j < dims; j++) vectors[i * dims + j]! /= Math.sqrt(norm);
    }
    const input = { tenantId: 't', runId: 'r1', dims, texts: Array.from({ length: n }, (_, i) => `query ${['alpha', 'beta', 'gamma'][i % 3]} ${i}`), weights: Array.from({ length: n }, () => 1), prior: [], params: { algorithm: 'graph' as const, threads: 1 } };
    const here = clusterSnapshot({ ...input, vectors: vectors.slice() });
    const there = await runInThread<typeof input & { vectors: Float32Array }, ReturnType<typeof clusterSnapshot>>(new URL('../../src/clustering/thread.ts', import.meta.url), 'clusterSnapshotTask', { ...input, vectors }, { transfer: [vectors.buffer] });
    expect(there.result.weight.length).toBeGreaterThan(0);
    expect(there.result.weight.length).toBe(here.result.weight.length);
    expect(Array.from(there.result.assignment)).toEqual(Array.from(here.result.assignment));
    expect(there.identity.ids).toEqual(here.identity.ids);
    expect(there.described.map((d) => d.label)).toEqual(here.described.map((d) => d.label));
  });
});
