/**
 * Collects items written in batches (the gateway's teacher answers, logged as interactions after the answer went
 * out): a batch goes when `maxBatch` items wait or the oldest has waited `maxWaitMs`, so under load the database
 * sees one statement per batch instead of one per request, and the request's own path does none of the work.
 *
 * Nothing is lost to a failed write: a write that throws puts its items back at the front of the queue and is
 * retried after a pause (doubling from `retryMs`); `write` may instead answer an error per item for items that can
 * never be written (bad input), which are rejected alone. Each `add` resolves when its item is written (or rejects
 * with its own error). `flush` writes what waits now (feedback may name an answer still queued); `close` flushes
 * until the queue is empty, retrying failed writes up to `closeAttempts` times before it gives the rest up (they are
 * rejected and reported to `onError`, never dropped silently).
 */

export interface BatcherOptions<T> {
  /** Writes one batch. Throw to have the whole batch retried; answer errors by position to reject single items. */
  write: (items: T[]) => Promise<ReadonlyArray<Error | null | undefined> | void>;
  maxWaitMs: number;
  maxBatch: number;
  /** Pause before retrying a failed write (ms); doubles with each failure in a row, up to 30 s. Default 500. */
  retryMs?: number;
  /** Tries of a failing write during `close` before the rest is given up. Default 3. */
  closeAttempts?: number;
  /** Most items kept waiting (the database is down); an `add` beyond it is refused. Default 100,000. */
  maxPending?: number;
  /** Called for every failed write (`lost` when its items were given up at close). */
  onError?: (err: unknown, items: number, lost: boolean) => void;
}

interface Entry<T> {
  item: T;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Batcher<T> {
  private queue: Array<Entry<T>> = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly writing = new Set<Promise<boolean>>();
  private failures = 0;
  private closed = false;

  constructor(private readonly o: BatcherOptions<T>) {}

  /** Items waiting to be written (not counting those being written). */
  get pending(): number {
    return this.queue.length;
  }

  add(item: T): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the batcher is closed'));
    if (this.queue.length >= (this.o.maxPending ?? 100_000))
      return Promise.reject(new Error(`more than ${this.o.maxPending ?? 100_000} items wait to be written: refused`));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // A full batch goes at once, unless writes are failing: then the retry's pause holds (no attempt per add).
      if (this.queue.length >= this.o.maxBatch && !this.failures) void this.writeSome();
      else this.schedule(this.o.maxWaitMs);
    });
  }

  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.writeSome();
    }, ms);
    this.timer.unref();
  }

  /** Writes up to one batch of what waits; true when it was written (or nothing waited). */
  private writeSome(): Promise<boolean> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.queue.splice(0, this.o.maxBatch);
    if (!batch.length) return Promise.resolve(true);
    const p = this.writeBatch(batch).finally(() => this.writing.delete(p));
    this.writing.add(p);
    if (this.queue.length) {
      // More than one batch waited: the next goes now if full, else on its own clock.
      if (this.queue.length >= this.o.maxBatch && !this.failures) void this.writeSome();
      else this.schedule(this.o.maxWaitMs);
    }
    return p;
  }

  private async writeBatch(batch: Array<Entry<T>>): Promise<boolean> {
    let errors: ReadonlyArray<Error | null | undefined> | void;
    try {
      errors = await this.o.write(batch.map((e) => e.item));
    } catch (err) {
      this.failures++;
      this.o.onError?.(err, batch.length, false);
      // Back to the front, in order, to be tried again after a pause.
      this.queue.unshift(...batch);
      this.schedule(Math.min(30_000, (this.o.retryMs ?? 500) * 2 ** (this.failures - 1)));
      return false;
    }
    this.failures = 0;
    batch.forEach((e, i) => {
      const err = errors ? errors[i] : null;
      if (err) e.reject(err);
      else e.resolve();
    });
    return true;
  }

  /**
   * Writes what waits now (in batches) and waits for the writes under way; a failed write leaves its items queued
   * for the retry. True when everything it saw was written.
   */
  async flush(): Promise<boolean> {
    for (let n = this.queue.length; n > 0 && this.queue.length; n -= this.o.maxBatch) void this.writeSome();
    return (await Promise.all([...this.writing])).every(Boolean);
  }

  /** Flushes until nothing waits (retrying failures `closeAttempts` times), then refuses new items. */
  async close(): Promise<void> {
    const attempts = this.o.closeAttempts ?? 3;
    for (let failed = 0; this.queue.length || this.writing.size;) {
      if (await this.flush()) continue;
      if (++failed >= attempts) break;
      await new Promise((r) => setTimeout(r, Math.min(5_000, (this.o.retryMs ?? 500) * 2 ** (failed - 1))));
    }
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lost = this.queue.splice(0);
    if (lost.length) {
      const err = new Error(`${lost.length} items could not be written before close`);
      this.o.onError?.(err, lost.length, true);
      for (const e of lost) e.reject(err);
    }
  }
}
