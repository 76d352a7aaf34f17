/**
 * The SDK's one way of talking to the Distillery API: JSON POSTs with a per-attempt timeout and retries with
 * exponential backoff and jitter on network errors, timeouts, 5xx and 429. Any other 4xx is final (retrying the same
 * body cannot succeed). Every post the SDK makes is idempotent on its key, so repeating one is safe.
 */

/**
 * Why a call to Distillery failed:
 *  - `network`: no HTTP answer (connection refused, reset, DNS) after all retries;
 *  - `timeout`: no answer within `timeoutMs` after all retries;
 *  - `server`: 5xx or 429 after all retries;
 *  - `rejected`: a 4xx other than 429 (bad key, invalid record, unknown interaction, idempotency conflict) — not retried;
 *  - `invalid`: nothing was sent because the record could not be built or serialised (e.g. a stream with no choices).
 */
export type DistilleryErrorKind = 'network' | 'timeout' | 'server' | 'rejected' | 'invalid';

export class DistilleryError extends Error {
  override readonly name = 'DistilleryError';
  constructor(
    message: string,
    readonly kind: DistilleryErrorKind,
    readonly details: {
      /** HTTP status of the last attempt, when there was one. */
      status?: number;
      /** The field the API blamed (`{error:{field}}`), for `rejected`. */
      field?: string;
      /** API path, e.g. `/v1/interactions`. */
      path?: string;
      /** Attempts made (1 + retries). */
      attempts?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }

  get status(): number | undefined {
    return this.details.status;
  }
}

export interface TransportOptions {
  endpoint: string;
  apiKey: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  fetch: typeof fetch;
}

export interface PostResult {
  status: number;
  body: unknown;
}

/** Longest wait between two attempts, whatever the backoff or Retry-After says. */
const MAX_DELAY_MS = 10_000;

export class Transport {
  private readonly base: string;

  constructor(private readonly opts: TransportOptions) {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new TypeError(`withDistillery: endpoint must be an absolute URL such as https://distillery.example.com (got ${JSON.stringify(opts.endpoint)})`);
    }
    // Accept both `https://host` and `https://host/v1`: the SDK appends `/v1/...` itself.
    this.base = url.toString().replace(/\/+$/, '').replace(/\/v1$/, '');
  }

  /** POSTs a JSON body (already serialised, so every attempt sends identical bytes). Throws DistilleryError. */
  async post(path: string, json: string): Promise<PostResult> {
    const url = this.base + path;
    const attempts = this.opts.maxRetries + 1;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(url, path, json, attempt);
      if (outcome.ok) return outcome.result;
      if (!outcome.retry || attempt >= attempts) throw outcome.error;
      await sleep(this.delay(attempt, outcome.retryAfterMs));
    }
  }

  private async attempt(
    url: string,
    path: string,
    json: string,
    attempt: number,
  ): Promise<{ ok: true; result: PostResult } | { ok: false; retry: boolean; error: DistilleryError; retryAfterMs?: number }> {
    let res: Response;
    let text: string;
    try {
      res = await this.opts.fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json', accept: 'application/json' },
        body: json,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      const reason = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
      return {
        ok: false,
        retry: true,
        error: timedOut
          ? new DistilleryError(`Distillery did not answer POST ${path} within ${this.opts.timeoutMs} ms (${attempt} attempt(s))`, 'timeout', {
              path,
              attempts: attempt,
              cause: err,
            })
          : new DistilleryError(`could not reach Distillery at ${url} (${reason}; ${attempt} attempt(s))`, 'network', { path, attempts: attempt, cause: err }),
      };
    }
    const body = parseJson(text);
    if (res.ok) return { ok: true, result: { status: res.status, body } };

    const apiError = (body as { error?: { field?: unknown; message?: unknown } } | undefined)?.error;
    const field = typeof apiError?.field === 'string' ? apiError.field : undefined;
    const detail = typeof apiError?.message === 'string' ? apiError.message : text.slice(0, 300);
    const retryable = res.status === 429 || res.status >= 500;
    const error = new DistilleryError(
      `Distillery answered ${res.status} to POST ${path}${field ? ` (${field})` : ''}: ${detail || res.statusText}${retryable ? ` (${attempt} attempt(s))` : ''}`,
      retryable ? 'server' : 'rejected',
      { status: res.status, path, attempts: attempt, ...(field ? { field } : {}) },
    );
    const retryAfterMs = retryable ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
    return { ok: false, retry: retryable, error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }

  /** Exponential backoff (base, 2×base, 4×base, ...) with jitter in [50%, 100%], at least Retry-After, capped. */
  private delay(attempt: number, retryAfterMs?: number): number {
    const exp = this.opts.retryBaseDelayMs * 2 ** (attempt - 1);
    const jittered = exp * (0.5 + Math.random() * 0.5);
    return Math.min(MAX_DELAY_MS, Math.max(jittered, retryAfterMs ?? 0));
  }
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Retry-After is either delta-seconds or an HTTP date. */
function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
