import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/gateway/batcher';

/** A write that records its batches and fails while `down` is set. */
function store() {
  const s = { batches: [] as number[][], written: [] as number[], down: false, calls: 0 };
  const write = async (items: number[]) => {
    s.calls++;
    await new Promise((r) => setTimeout(r, 1));
    if (s.down) throw new Error('database down');
    s.batches.push(items);
    s.written.push(...items);
  };
  return { s, write };
}

describe('batcher (teacher answers written in batches)', () => {
  it('writes a full batch at once and the rest after the wait, in order; each add resolves when written', async () => {
    const { s, write } = store();
    const b = new Batcher<number>({ write, maxWaitMs: 30, maxBatch: 3 });
    const adds = [1, 2, 3, 4, 5].map((i) => b.add(i));
    await Promise.all(adds.slice(0, 3));
    expect(s.batches).toEqual([[1, 2, 3]]);
    expect(b.pending).toBe(2);
    await Promise.all(adds);
    expect(s.batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('flush writes what waits now without waiting for the clock', async () => {
    const { s, write } = store();
    const b = new Batcher<number>({ write, maxWaitMs: 60_000, maxBatch: 100 });
    void b.add(1);
    void b.add(2);
    expect(await b.flush()).toBe(true);
    expect(s.written).toEqual([1, 2]);
    await b.close();
  });

  it('loses nothing to a failed write: the items go back in order and are written on the retry', async () => {
    const { s, write } = store();
    const errors: unknown[] = [];
    const b = new Batcher<number>({ write, maxWaitMs: 5, maxBatch: 10, retryMs: 10, onError: (e) => errors.push(e) });
    s.down = true;
    const first = [1, 2, 3].map((i) => b.add(i));
    await new Promise((r) => setTimeout(r, 30));
    expect(s.written).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    void b.add(4);
    s.down = false;
    await Promise.all(first);
    await b.flush();
    expect(s.written).toEqual([1, 2, 3, 4]);
    await b.close();
  });

  it('while writes fail, a full queue does not try a write per new item: the retry pause holds', async () => {
    const { s, write } = store();
    const b = new Batcher<number>({ write, maxWaitMs: 5, maxBatch: 2, retryMs: 1000 });
    s.down = true;
    void b.add(1).catch(() => undefined);
    void b.add(2).catch(() => undefined); // a full batch: written at once, and fails
    await new Promise((r) => setTimeout(r, 20));
    expect(s.calls).toBe(1);
    for (let i = 3; i < 50; i++) void b.add(i).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.calls).toBe(1);
    expect(b.pending).toBe(49);
    s.down = false;
    expect(await b.flush()).toBe(true); // flush (feedback, shutdown) still writes at once
    expect(s.written).toEqual(Array.from({ length: 49 }, (_, i) => i + 1));
    await b.close();
  });

  it('close writes everything that waits, then refuses new items', async () => {
    const { s, write } = store();
    const b = new Batcher<number>({ write, maxWaitMs: 60_000, maxBatch: 4 });
    const adds = Array.from({ length: 10 }, (_, i) => b.add(i));
    await b.close();
    await Promise.all(adds);
    expect(s.written).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(s.batches.map((x) => x.length)).toEqual([4, 4, 2]);
    await expect(b.add(99)).rejects.toThrow(/closed/);
  });

  it('close gives up after its attempts and rejects (and reports) what it could not write', async () => {
    const { s, write } = store();
    const reports: Array<{ items: number; lost: boolean }> = [];
    const b = new Batcher<number>({
      write,
      maxWaitMs: 60_000,
      maxBatch: 10,
      retryMs: 1,
      closeAttempts: 2,
      onError: (_, items, lost) => reports.push({ items, lost }),
    });
    s.down = true;
    const adds = [1, 2].map((i) =>
      b.add(i).then(
        () => 'written',
        (e: Error) => e.message,
      ),
    );
    await b.close();
    expect(await Promise.all(adds)).toEqual(['2 items could not be written before close', '2 items could not be written before close']);
    expect(reports.at(-1)).toEqual({ items: 2, lost: true });
    expect(s.calls).toBeGreaterThanOrEqual(2); // tried again before giving up
  });

  it('rejects alone an item the write says can never be written', async () => {
    const written: string[] = [];
    const b = new Batcher<string>({
      write: async (items) => {
        written.push(...items.filter((x) => x !== 'bad'));
        return items.map((x) => (x === 'bad' ? new Error('bad record') : null));
      },
      maxWaitMs: 1,
      maxBatch: 10,
    });
    const r = await Promise.allSettled(['a', 'bad', 'c'].map((x) => b.add(x)));
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(written).toEqual(['a', 'c']);
  });

  it('refuses items beyond maxPending rather than growing without bound', async () => {
    const b = new Batcher<number>({ write: async () => undefined, maxWaitMs: 60_000, maxBatch: 100, maxPending: 2 });
    void b.add(1);
    void b.add(2);
    await expect(b.add(3)).rejects.toThrow(/more than 2 items wait/);
    await b.close();
  });
});
