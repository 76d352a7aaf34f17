import { describe, expect, it } from 'vitest';
import { ThreadTaskError, runInThread } from '../../src/threads/run';

const TASKS = new URL('./fixtures/thread-tasks.ts', import.meta.url);

describe('runInThread', () => {
  it('runs a TypeScript task in a worker thread, moving buffers both ways and reporting progress', async () => {
    const values = Float64Array.from({ length: 5000 }, (_, i) => i);
    const progress: unknown[] = [];
    const out = await runInThread<{ values: Float64Array }, { sum: number; doubled: Float64Array }>(
      TASKS,
      'sumAndDouble',
      { values },
      {
        transfer: [values.buffer],
        onProgress: (p) => progress.push(p),
      },
    );
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
    const input = {
      tenantId: 't',
      runId: 'r1',
      dims,
      texts: Array.from({ length: n }, (_, i) => `query ${['alpha', 'beta', 'gamma'][i % 3]} ${i}`),
      weights: Array.from({ length: n }, () => 1),
      prior: [],
      params: { algorithm: 'graph' as const, threads: 1 },
    };
    const here = clusterSnapshot({ ...input, vectors: vectors.slice() });
    const there = await runInThread<typeof input & { vectors: Float32Array }, ReturnType<typeof clusterSnapshot>>(
      new URL('../../src/clustering/thread.ts', import.meta.url),
      'clusterSnapshotTask',
      { ...input, vectors },
      { transfer: [vectors.buffer] },
    );
    expect(there.result.weight.length).toBeGreaterThan(0);
    expect(there.result.weight.length).toBe(here.result.weight.length);
    expect(Array.from(there.result.assignment)).toEqual(Array.from(here.result.assignment));
    expect(there.identity.ids).toEqual(here.identity.ids);
    expect(there.described.map((d) => d.label)).toEqual(here.described.map((d) => d.label));
  });
});

describe('graduation in a worker thread', () => {
  const PASSWORD = "Click 'Forgot password' on the login page and follow the link we email you.";
  const REFUND = 'Refunds reach your account within 5-7 business days.';
  const HOURS = 'We are open from nine to five, Monday to Friday.';
  /**
   * Five clusters in 8 dims: two share the password answer, one answers refunds, one is mixed, one (larger) answers
   * opening hours; every fifth query of the first four leans towards the next cluster (a neighbour the router sends
   * there), none leans towards the hours cluster.
   */
  async function runData() {
    const { slotsOfQuery } = await import('../../src/serving/slots');
    const dims = 8;
    let s = 11;
    const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32 - 0.5);
    const unit = (v: number[]) => {
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const ids = ['pw-forgot', 'pw-reset', 'refund', 'mixed', 'hours'];
    const centres = ids.map(() => unit(Array.from({ length: dims }, rnd)));
    const examples: Array<{ id: number; query: string; slots: Record<string, string>; answer: string }> = [];
    const exampleClusters: string[] = [];
    const vecs: number[] = [];
    ids.forEach((c, k) => {
      for (let i = 0; i < (c === 'hours' ? 200 : 60); i++) {
        const query = `question about ${c} number ${['one', 'two', 'three'][i % 3]} ${i % 2 ? 'please' : ''}`;
        examples.push({
          id: examples.length + 1,
          query,
          slots: slotsOfQuery(query),
          answer: c.startsWith('pw') ? PASSWORD : c === 'refund' ? REFUND : c === 'hours' ? HOURS : i % 2 ? PASSWORD : REFUND,
        });
        exampleClusters.push(c);
        const lean = i % 5 === 0 && c !== 'hours' ? 0.6 : 0.05;
        vecs.push(...unit(centres[k]!.map((x, j) => (1 - lean) * x + lean * centres[(k + 1) % 4]![j]! + 0.02 * rnd())));
      }
    });
    return {
      snaps: ids.map((clusterId, k) => ({ clusterId, share: 0.2, label: `label ${k}` })),
      examples,
      exampleClusters,
      dims,
      vectors: Float32Array.from(vecs),
      centroids: Float32Array.from(centres.flat()),
      threshold: 0.7,
    };
  }

  it('induces, routes and verifies the same candidates as on this thread (the activity path)', async () => {
    const { graduateRunData, graduationTransfer } = await import('../../src/graduation/thread');
    const { runGraduationData } = await import('../../src/graduation/load');
    const { graduateClusters } = await import('../../src/graduation/propose');
    const { answerFitWarnings } = await import('../../src/graduation/fit');
    const { DEFAULT_POLICY } = await import('../../src/graduation/verify');
    const data = await runData();
    // The in-process path as the activity ran it before threads: closures over the loaded data.
    const loaded = runGraduationData(await runData());
    const here = graduateClusters(loaded.clusters, {
      policy: DEFAULT_POLICY,
      neighbours: loaded.neighbours,
      warn: (p, ex) =>
        answerFitWarnings(
          p.template,
          ex.map((e) => e.query),
        ),
    });
    // Both outcomes, and routed neighbours, so the comparison covers induction, routing and the false-positive check.
    expect(here.passed.map((c) => c.clusterIds)).toEqual([['hours']]);
    expect(here.passed[0]!.evidence.falsePositives.tested).toBeGreaterThan(0);
    expect(here.failed.map((c) => c.clusterIds)).toEqual([['pw-forgot', 'pw-reset'], ['refund']]);
    expect(here.failed[0]!.evidence.falsePositives.routedHere).toBeGreaterThan(0);
    expect(graduateRunData({ data: await runData(), policy: DEFAULT_POLICY })).toEqual(here);
    const there = await runInThread(
      new URL('../../src/graduation/thread.ts', import.meta.url),
      'graduateRunTask',
      { data, policy: DEFAULT_POLICY },
      { transfer: graduationTransfer(data) },
    );
    expect(data.vectors.length).toBe(0); // moved
    expect(there).toEqual(here);
  });

  it('replays a reviewer edit with the same evidence as on this thread', async () => {
    const { verifyEditData } = await import('../../src/graduation/thread');
    const input = {
      data: await runData(),
      clusterIds: ['pw-forgot', 'pw-reset'],
      template: PASSWORD.replace('Forgot password', 'Reset password'),
      script: null,
    };
    const here = verifyEditData({ ...input, data: await runData() });
    expect(here.heldOut).toBeGreaterThan(0);
    expect(here.falsePositives.tested).toBeGreaterThan(0);
    const there = await runInThread(new URL('../../src/graduation/thread.ts', import.meta.url), 'verifyEditTask', input);
    expect(there).toEqual(here);
  });
});

describe('dataset building in a worker thread', () => {
  it('writes the same JSONL, id and card as buildDataset on this thread', async () => {
    const { buildDataset, datasetId, toJsonl } = await import('../../src/distill/dataset');
    const { buildDatasetFiles } = await import('../../src/distill/thread');
    const rows = Array.from({ length: 120 }, (_, i) => ({
      interactionId: i + 1,
      clusterId: `c${i % 3}`,
      messages: [
        { role: 'system' as const, content: 'You are a support assistant.' },
        {
          role: 'user' as const,
          content: `my email is user${i % 40}@example.com and I need help with ${['billing', 'login', 'shipping'][i % 3]} case ${'abcdefghij'[i % 10]}${'klmnopqrst'[Math.floor(i / 10) % 10]}`,
        },
      ],
      answer: `Here is how to fix ${['billing', 'login', 'shipping'][i % 3]}: step ${'abcdefghij'[i % 10]}.`,
      correctedAnswer: i % 17 === 0 ? 'An edited answer.' : null,
      accepted: i % 11 !== 0,
    }));
    const input = { rows, options: { seed: 'distillery', minPerCluster: 2 }, provenance: { tenantId: 't', clusterRunId: 'r', clusterIds: ['c0', 'c1', 'c2'] } };
    const built = buildDataset(rows, input.options, input.provenance);
    expect(built.train.length).toBeGreaterThan(0);
    expect(built.eval.length).toBeGreaterThan(0);
    const here = buildDatasetFiles(input);
    expect(here).toEqual({
      id: datasetId(toJsonl(built.train), toJsonl(built.eval)),
      trainJsonl: toJsonl(built.train),
      evalJsonl: toJsonl(built.eval),
      trainCount: built.train.length,
      evalCount: built.eval.length,
      card: built.card,
    });
    const there = await runInThread(new URL('../../src/distill/thread.ts', import.meta.url), 'buildDatasetFilesTask', input);
    expect(there).toEqual(here);
  });
});
