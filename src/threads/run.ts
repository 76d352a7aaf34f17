import { Worker } from 'node:worker_threads';

/**
 * The shape of a function that runs in a worker thread: it gets its (structured-clonable) input and a progress
 * callback, and returns its result plus the buffers to move back to the caller without copying.
 */
export type ThreadTask<A, R> = (args: A, progress: (details: unknown) => void) => Promise<{ result: R; transfer?: ArrayBuffer[] }>;

export interface RunInThreadOptions {
  /** Buffers in `args` moved to the thread instead of copied (they become unusable on this side). */
  transfer?: ArrayBuffer[];
  /** Called with each progress report of the thread (e.g. to heartbeat). */
  onProgress?: (details: unknown) => void;
  /** Aborting terminates the thread and rejects with the abort reason (an activity's cancellation signal). */
  signal?: AbortSignal;
  /** Heap limit of the thread in MiB (default: Node's default for the process). */
  maxHeapMb?: number;
}

/** An error thrown inside the thread, re-thrown on this side with its original name and message. */
export class ThreadTaskError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly threadStack?: string,
  ) {
    super(message);
  }
}

const ENTRY = new URL('./entry.mjs', import.meta.url);

/**
 * Runs `exportName` of the module at `moduleUrl` in a fresh worker thread. CPU-heavy activity work (clustering,
 * induction, dataset building) goes through here so the worker's event loop stays free: heartbeats keep flowing,
 * cancellation arrives, and other activities on the same worker are not starved.
 */
export function runInThread<A, R>(moduleUrl: URL, exportName: string, args: A, opts: RunInThreadOptions = {}): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    const worker = new Worker(ENTRY, {
      workerData: { moduleUrl: moduleUrl.href, exportName, args },
      transferList: opts.transfer,
      resourceLimits: opts.maxHeapMb ? { maxOldGenerationSizeMb: opts.maxHeapMb } : undefined,
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = () => settle(() => reject(opts.signal!.reason));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on(
      'message',
      (m: { type: 'progress'; details: unknown } | { type: 'result'; result: R } | { type: 'error'; name: string; message: string; stack?: string }) => {
        if (m.type === 'progress') opts.onProgress?.(m.details);
        else if (m.type === 'result') settle(() => resolve(m.result));
        else settle(() => reject(new ThreadTaskError(m.name, m.message, m.stack)));
      },
    );
    worker.on('error', (err) => settle(() => reject(err)));
    worker.on('exit', (code) => settle(() => reject(new Error(`worker thread for ${exportName} exited with code ${code} before answering`))));
  });
}
