/**
 * Distillery SDK: wrap an `openai` client so every chat completion it makes is logged to Distillery.
 *
 * ```ts
 * import OpenAI from 'openai';
 * import { withDistillery } from './sdk';
 *
 * const openai = withDistillery(new OpenAI(), {
 *   endpoint: 'https://distillery.internal',   // the API's base URL; `/v1/...` is appended
 *   apiKey: process.env.DISTILLERY_API_KEY!,
 *   metadata: { app: 'support-bot' },          // attached to every logged interaction
 * });
 *
 * const completion = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
 * // Per-call metadata: a view of the same client whose calls carry extra metadata.
 * await openai.distillery.withMetadata({ feature: 'faq' }).chat.completions.create({ ... });
 * // Acceptance signal, by completion (or its id):
 * await openai.distillery.feedback(completion, { kind: 'edited', corrected_answer: 'Hello!' });
 * await openai.distillery.flush();               // before process exit: waits for background log posts
 * ```
 *
 * Logging happens in the background: the OpenAI call never waits for Distillery and never fails because of it.
 * Failures go to `onError` (default: one console.warn per kind of failure).
 *
 * Limits:
 *  - Only chat completions are logged: `chat.completions.create` and the helpers built on it (`parse()`, `stream()`,
 *    `runTools()`; runTools logs each model turn, tool-call turns included, unless `toolLoops: 'once'` logs each tool
 *    loop once, with its full history and per-turn latency and usage). Other APIs (responses, embeddings, ...)
 *    pass through untouched; use `distillery.log()` for completions made elsewhere.
 *  - A completion is logged when its promise is awaited/then'ed (openai parses lazily), and its latency runs from the
 *    `create()` call to that moment. `.asResponse()` returns the raw HTTP response without parsing it, so such calls
 *    are not logged.
 *  - Streams are logged when read to the end (or until every choice has a finish_reason). A stream that errors, is
 *    aborted or is abandoned early is not logged: a partial answer is not a teacher answer. Latency for a stream is the
 *    time until its last chunk. Logprobs and audio deltas are not reassembled.
 *  - `feedback()` for a streamed completion works once the stream has been read to the end.
 */
import { randomUUID } from 'node:crypto';
import type OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import { DistilleryError, Transport } from './http';
import { ChunkAccumulator, tapStream } from './stream';
import { ToolLoopLog } from './tool-loop';

export { DistilleryError, type DistilleryErrorKind } from './http';
export { ChunkAccumulator } from './stream';

export type Metadata = Record<string, unknown>;

export interface DistilleryOptions {
  /** Base URL of the Distillery API, e.g. `https://distillery.internal` (a trailing `/v1` is tolerated). */
  endpoint: string;
  /** A tenant API key (`dk_...`), sent as `Authorization: Bearer`. */
  apiKey: string;
  /** Metadata attached to every interaction logged through this client (per-call metadata wins on key clashes). */
  metadata?: Metadata;
  /** Per-attempt timeout of each HTTP call to Distillery. Default 5000 ms. */
  timeoutMs?: number;
  /** Retries after the first attempt on network errors, timeouts, 5xx and 429 (never on other 4xx). Default 3. */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter (50–100%), honouring Retry-After, capped at 10 s. Default 250 ms. */
  retryBaseDelayMs?: number;
  /** Called when a background log post fails for good. Default: console.warn, once per kind of failure. */
  onError?: (err: Error) => void;
  /** fetch implementation for calls to Distillery (not to OpenAI). Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /**
   * `each-turn` (default): every model turn is an interaction. `once`: a turn that calls tools is held until the turn
   * answering its tool calls arrives, and the loop is logged once, by its final turn (full history, summed latency,
   * `metadata.tool_loop.steps` with each turn's latency and usage): what tool-script mining learns from.
   */
  toolLoops?: 'each-turn' | 'once';
  /** `toolLoops: 'once'`: how long a tool-calling turn waits for its continuation before it is logged alone. Default 60 s. */
  toolLoopWaitMs?: number;
}

export type FeedbackKind = 'accepted' | 'rejected' | 'edited' | 'score';

/** An acceptance signal. `edited` needs the corrected answer, `score` a number from 0 to 1. */
export type Feedback = (
  | { kind: 'accepted' | 'rejected'; corrected_answer?: string; score?: number }
  | { kind: 'edited'; corrected_answer: string; score?: number }
  | { kind: 'score'; score: number; corrected_answer?: string }
) & {
  /** Makes a repeated post of this feedback a no-op; by default each feedback() call is one event (its own key). */
  idempotency_key?: string;
};

/**
 * Which interaction feedback is about: a ChatCompletion (or anything with its `id`), a completion id (`chatcmpl-...`),
 * an interaction key (`response:chatcmpl-...`), or explicitly `{ interaction_key }` (e.g. a LogResult's `key`).
 */
export type FeedbackTarget = string | { id: string } | { interaction_key: string };

/** A record for manual logging: the request as sent to OpenAI and the ChatCompletion it returned. */
export interface LogRecord {
  request: ChatCompletionCreateParams | { model: string; messages: readonly unknown[]; [param: string]: unknown };
  response: ChatCompletion | { id?: string; model?: string; choices: readonly unknown[]; [field: string]: unknown };
  /** Default: `response:<response.id>`. */
  idempotency_key?: string;
  /** ISO-8601 time with offset, or epoch seconds/milliseconds. Default: when Distillery receives it. */
  created_at?: string | number;
  latency_ms?: number;
  cost_usd?: number;
  /** Merged over the client's metadata. */
  metadata?: Metadata;
  feedback?: Feedback;
}

/** Distillery exposes no internal ids (they come from one global sequence): an interaction is known by its key. */
export interface LogResult {
  status: 'stored' | 'duplicate';
  /** The key the interaction is stored under; pass it to `feedback()`. */
  key: string;
}

export interface DistilleryLogger<C = unknown> {
  /** The metadata this view attaches (client-wide merged with `withMetadata` layers). */
  readonly metadata: Readonly<Metadata>;
  /**
   * Logs a completion made elsewhere. Never rejects: resolves to the stored interaction, or to `undefined` after
   * reporting the failure to `onError`. Tracked by `flush()` like automatic logs.
   */
  log(record: LogRecord): Promise<LogResult | undefined>;
  /**
   * Posts an acceptance signal. Waits first for this SDK's in-flight log post of the same interaction, so feedback
   * given right after the call still finds it. Rejects with a DistilleryError when Distillery refuses it (unknown
   * interaction: 404, idempotency conflict: 409, invalid: 400) or cannot be reached after retries.
   */
  feedback(target: FeedbackTarget, feedback: Feedback): Promise<void>;
  /** Waits until every log and feedback post started so far has settled. Never rejects. Call before process exit. */
  flush(): Promise<void>;
  /**
   * The same client, whose calls attach `metadata` (merged over this view's) to what they log:
   * `client.distillery.withMetadata({ feature: 'faq' }).chat.completions.create(...)`. Cheap; no new connection.
   */
  withMetadata(metadata: Metadata): DistilleryClient<C>;
}

export type DistilleryClient<C> = C & { distillery: DistilleryLogger<C> };

interface Shared {
  transport: Transport;
  report(err: Error): void;
  /** Every post not yet settled (for flush). */
  pending: Set<Promise<unknown>>;
  /** Log posts not yet settled, by interaction key (for feedback). */
  inflight: Map<string, Promise<unknown>>;
  /** `toolLoops: 'once'`: the tool-calling turns held for their continuation. */
  loops?: ToolLoopLog;
}

const TARGET = Symbol('distillery.target');

/**
 * Wraps an `openai` client so that every `chat.completions.create` call is logged to Distillery in the background.
 * The result behaves exactly like `client` (same methods, types, `instanceof`, streams, `.withResponse()`), plus a
 * `distillery` property with `feedback()`, `flush()`, `log()` and `withMetadata()`.
 *
 * - Non-streaming calls return the completion unchanged; the request params, the completion, the latency and the
 *   metadata are posted to `POST /v1/interactions` with idempotency key `response:<completion.id>`.
 * - Streaming calls (`stream: true`) return the same openai Stream; its chunks are accumulated as the caller reads them
 *   and the assembled ChatCompletion (content, tool calls, finish_reason, usage when `stream_options.include_usage`)
 *   is logged when the stream ends.
 * - Per-call metadata: `client.distillery.withMetadata({ feature: 'faq' }).chat.completions.create(...)`. The options
 *   (second) argument of `create` is passed to openai untouched.
 * - `client.withOptions(...)` returns a wrapped client too.
 *
 * Posts time out after `timeoutMs` (default 5 s) and are retried with exponential backoff and jitter on network
 * errors, 5xx and 429 (default 3 retries); they are idempotent on the key, so a retry never stores twice.
 */
export function withDistillery<T extends OpenAI>(client: T, opts: DistilleryOptions): T & { distillery: DistilleryLogger<T> } {
  if (!opts.apiKey) throw new TypeError('withDistillery: apiKey is required (a Distillery tenant key, dk_...)');
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('withDistillery: no fetch available; pass opts.fetch');
  const transport = new Transport({
    endpoint: opts.endpoint,
    apiKey: opts.apiKey,
    timeoutMs: opts.timeoutMs ?? 5_000,
    maxRetries: Math.max(0, opts.maxRetries ?? 3),
    retryBaseDelayMs: opts.retryBaseDelayMs ?? 250,
    fetch: fetchImpl,
  });
  const warned = new Set<string>();
  const onError =
    opts.onError ??
    ((err: Error) => {
      const kind = err instanceof DistilleryError ? `${err.kind}${err.status ? ` ${err.status}` : ''}` : err.name;
      if (warned.has(kind)) return;
      warned.add(kind);
      console.warn(`[distillery] interaction not logged: ${err.message} (further "${kind}" failures are not shown)`);
    });
  const shared: Shared = {
    transport,
    report(err) {
      try {
        onError(err);
      } catch {
        /* an onError that throws must not turn into an unhandled rejection in the caller's process */
      }
    },
    pending: new Set(),
    inflight: new Map(),
  };
  if (opts.toolLoops === 'once') shared.loops = new ToolLoopLog((t) => void post(shared, t.key, t.record), opts.toolLoopWaitMs ?? 60_000);
  // Wrapping a wrapped client would log every call twice: wrap the original instead.
  const raw = ((client as unknown as Record<symbol, unknown>)[TARGET] as T | undefined) ?? client;
  return wrapClient(raw, shared, { ...(opts.metadata ?? {}) });
}

function wrapClient<T extends object>(client: T, shared: Shared, metadata: Metadata): DistilleryClient<T> {
  let chatView: unknown;
  const logger = makeLogger<T>(client, shared, metadata);
  const view: DistilleryClient<T> = new Proxy(client, {
    get(target, prop) {
      if (prop === 'distillery') return logger;
      if (prop === TARGET) return target;
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'chat' && isObject(value)) return (chatView ??= wrapChat(value, view, shared, metadata));
      if (prop === 'withOptions' && typeof value === 'function') {
        return (...args: unknown[]) => wrapClient(value.apply(target, args) as object, shared, metadata);
      }
      // The client keeps state in #private fields, which only work with `this` = the real client.
      if (typeof value === 'function' && prop !== 'constructor') return value.bind(target);
      return value;
    },
    has(target, prop) {
      return prop === 'distillery' || Reflect.has(target, prop);
    },
  }) as DistilleryClient<T>;
  return view;
}

function wrapChat(chat: object, clientView: object, shared: Shared, metadata: Metadata): object {
  let completionsView: unknown;
  return new Proxy(chat, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'completions' && isObject(value)) return (completionsView ??= wrapCompletions(value, clientView, shared, metadata));
      return value;
    },
  });
}

function wrapCompletions(completions: object, clientView: object, shared: Shared, metadata: Metadata): object {
  const original = (completions as { create?: unknown }).create;
  if (typeof original !== 'function') return completions;
  const create = function create(params: ChatCompletionCreateParams, options?: unknown): unknown {
    const started = performance.now();
    const startedAt = new Date();
    const promise: unknown = original.call(completions, params, options);
    let handled = false;
    const transform = (result: unknown): unknown => {
      // openai re-runs transforms for derived promises (e.g. `parse()` on top of `create()`); log once.
      if (handled) return result;
      handled = true;
      try {
        if (params?.stream === true && isAsyncIterable(result)) return instrumentStream(result, params, started, startedAt, shared, metadata);
        logCompletion(shared, metadata, params, result as ChatCompletion, elapsed(started), startedAt);
      } catch (err) {
        shared.report(asError(err));
      }
      return result;
    };
    // APIPromise#_thenUnwrap keeps the APIPromise (withResponse(), asResponse(), request ids) — it is how openai's own
    // resources post-process results. Anything else (a test double) is treated as a plain promise.
    const p = promise as { _thenUnwrap?: (fn: (r: unknown) => unknown) => unknown; then?: unknown };
    if (typeof p?._thenUnwrap === 'function') return p._thenUnwrap(transform);
    return Promise.resolve(promise).then(transform);
  };
  return new Proxy(completions, {
    get(target, prop, receiver) {
      if (prop === 'create') return create;
      // The helpers parse(), stream() and runTools() call `this._client.chat.completions.create(...)`: handing them the
      // wrapped client routes their calls through the logging `create` above. (The real `create` runs with the real
      // resource as `this`, so its own requests use the real client.)
      if (prop === '_client') return clientView;
      return Reflect.get(target, prop, receiver);
    },
  });
}

function logCompletion(
  shared: Shared,
  metadata: Metadata,
  params: ChatCompletionCreateParams,
  completion: ChatCompletion,
  latencyMs: number,
  startedAt: Date,
): void {
  if (!isObject(completion)) return;
  const key = completion.id ? `response:${completion.id}` : `sdk:${randomUUID()}`;
  const record = {
    idempotency_key: key,
    created_at: startedAt.toISOString(),
    latency_ms: latencyMs,
    ...(Object.keys(metadata).length ? { metadata } : {}),
    request: params,
    response: completion,
  };
  if (shared.loops) shared.loops.turn({ key, record });
  else post(shared, key, record);
}

function instrumentStream<S extends AsyncIterable<ChatCompletionChunk>>(
  stream: S,
  params: ChatCompletionCreateParams,
  started: number,
  startedAt: Date,
  shared: Shared,
  metadata: Metadata,
): S {
  const acc = new ChunkAccumulator();
  return tapStream(stream, acc, (complete) => {
    if (!complete) return;
    const latency = elapsed(started);
    if (acc.choiceCount === 0) {
      shared.report(new DistilleryError('stream ended without any choices; nothing to log', 'invalid'));
      return;
    }
    try {
      logCompletion(shared, metadata, params, acc.build(), latency, startedAt);
    } catch (err) {
      shared.report(asError(err));
    }
  });
}

/** Starts a background log post; never rejects. */
function post(shared: Shared, key: string, record: Record<string, unknown>): Promise<LogResult | undefined> {
  let json: string;
  try {
    json = JSON.stringify(record); // now, so later mutation of the caller's objects cannot change what is logged
  } catch (err) {
    shared.report(new DistilleryError(`could not serialise the interaction: ${asError(err).message}`, 'invalid', { cause: err }));
    return Promise.resolve(undefined);
  }
  const p = shared.transport.post('/v1/interactions', json).then(
    (res): LogResult => {
      const body = (res.body ?? {}) as { status?: unknown };
      return { status: body.status === 'duplicate' ? 'duplicate' : 'stored', key };
    },
    (err: unknown) => {
      shared.report(asError(err));
      return undefined;
    },
  );
  track(shared, p, key);
  return p;
}

function track(shared: Shared, p: Promise<unknown>, key?: string): void {
  shared.pending.add(p);
  if (key) shared.inflight.set(key, p);
  void p.finally(() => {
    shared.pending.delete(p);
    if (key && shared.inflight.get(key) === p) shared.inflight.delete(key);
  });
}

function makeLogger<C>(client: C & object, shared: Shared, metadata: Metadata): DistilleryLogger<C> {
  return {
    metadata: Object.freeze({ ...metadata }),

    log(record) {
      if (!isObject(record) || !isObject(record.response)) {
        shared.report(new DistilleryError('log(record) needs { request, response }', 'invalid'));
        return Promise.resolve(undefined);
      }
      const responseId = (record.response as { id?: unknown }).id;
      const key = record.idempotency_key ?? (typeof responseId === 'string' && responseId ? `response:${responseId}` : `sdk:${randomUUID()}`);
      const merged = { ...metadata, ...(record.metadata ?? {}) };
      return post(shared, key, { ...record, idempotency_key: key, ...(Object.keys(merged).length ? { metadata: merged } : {}) });
    },

    async feedback(target, fb) {
      const ref = feedbackRef(target);
      if ('interaction_key' in ref) {
        const landing = shared.inflight.get(ref.interaction_key);
        if (landing) await landing;
      }
      const body = JSON.stringify({
        ...ref,
        kind: fb.kind,
        ...(fb.corrected_answer !== undefined ? { corrected_answer: fb.corrected_answer } : {}),
        ...(fb.score !== undefined ? { score: fb.score } : {}),
        // One key per call, so the transport's retries of this post are harmless but a later call is a new event.
        idempotency_key: fb.idempotency_key ?? `sdk-feedback:${randomUUID()}`,
      });
      const p = shared.transport.post('/v1/feedback', body);
      track(
        shared,
        p.catch(() => undefined),
      );
      await p;
    },

    async flush() {
      shared.loops?.releaseAll();
      // Loop: a post can start while we wait (feedback queued behind a log post).
      while (shared.pending.size > 0) await Promise.allSettled([...shared.pending]);
    },

    withMetadata(extra) {
      return wrapClient(client, shared, { ...metadata, ...extra });
    },
  };
}

function feedbackRef(target: FeedbackTarget): { interaction_key: string } {
  if (typeof target === 'string') {
    if (!target) throw new TypeError('feedback: the completion id is empty');
    return { interaction_key: target.startsWith('response:') ? target : `response:${target}` };
  }
  if (isObject(target)) {
    if ('interaction_key' in target && typeof target.interaction_key === 'string') return { interaction_key: target.interaction_key };
    if ('id' in target && typeof target.id === 'string' && target.id) return { interaction_key: `response:${target.id}` };
  }
  throw new TypeError('feedback: pass a ChatCompletion, its id, an interaction key, or { interaction_key }');
}

function elapsed(started: number): number {
  return Math.max(0, Math.round(performance.now() - started));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function isAsyncIterable(v: unknown): v is AsyncIterable<ChatCompletionChunk> {
  return isObject(v) && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
