import type http from 'node:http';
import OpenAI from 'openai';
import { type HttpClient, responseHeaders } from './http-fetch';

/**
 * A non-streamed chat completion from an OpenAI-compatible upstream, without the SDK's per-request machinery (header
 * objects, web streams, response parsing layers: ~0.15 ms of CPU on every forwarded request). The policy is the
 * SDK's own, so the gateway behaves the same either way: a time limit per attempt; retries on connection errors,
 * timeouts, 408, 409, 429 and 5xx (an `x-should-retry` header overrides), waiting what `retry-after-ms` /
 * `retry-after` asks when it is under a minute, else 0.5 s doubling to 8 s, less up to 25% jitter; and the SDK's
 * error classes (APIError by status, APIConnectionError, APIConnectionTimeoutError, APIUserAbortError).
 */

export interface CallOptions {
  timeoutMs: number;
  retries: number;
  signal?: AbortSignal;
  random?: () => number;
}

type Headers = http.IncomingHttpHeaders;
const one = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Whether an answer with this status and headers is worth another attempt. */
export function shouldRetry(status: number, headers: Headers): boolean {
  const x = one(headers, 'x-should-retry');
  if (x === 'true') return true;
  if (x === 'false') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The pause before retry number `attempt` (0 for the first retry) of `retries`: what the answer's headers ask when
 * it is from 0 to 60 s, else exponential backoff with jitter.
 */
export function retryDelayMs(attempt: number, headers: Headers | null, random: () => number = Math.random, now = Date.now()): number {
  let ms: number | undefined;
  const afterMs = headers ? one(headers, 'retry-after-ms') : undefined;
  if (afterMs !== undefined && !Number.isNaN(parseFloat(afterMs))) ms = parseFloat(afterMs);
  const after = headers ? one(headers, 'retry-after') : undefined;
  if (ms === undefined && after !== undefined) ms = Number.isNaN(parseFloat(after)) ? Date.parse(after) - now : parseFloat(after) * 1000;
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > 60_000) ms = Math.min(0.5 * 2 ** attempt, 8) * (1 - random() * 0.25) * 1000;
  return ms;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new OpenAI.APIUserAbortError());
    const onAbort = () => {
      clearTimeout(t);
      reject(new OpenAI.APIUserAbortError());
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function parseJson(body: Buffer | null): unknown {
  if (!body || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** POSTs `body` (JSON) to `url` and returns the JSON answer, retrying as the SDK would. */
export async function postCompletion(
  client: HttpClient,
  url: URL,
  apiKey: string,
  body: Record<string, unknown>,
  o: CallOptions,
): Promise<Record<string, unknown>> {
  const payload = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${apiKey}` };
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw new OpenAI.APIUserAbortError();
    const left = o.retries - attempt;
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, o.timeoutMs);
    let answer;
    try {
      answer = await client.request(url, 'POST', headers, payload, controller.signal);
    } catch (err) {
      if (o.signal?.aborted) throw new OpenAI.APIUserAbortError();
      if (left > 0) {
        await sleep(retryDelayMs(attempt, null, o.random), o.signal);
        continue;
      }
      if (timedOut) throw Object.assign(new OpenAI.APIConnectionTimeoutError(), { cause: err });
      throw new OpenAI.APIConnectionError({ message: `Connection error: ${(err as Error).message}`, cause: err as Error });
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
    if (answer.status >= 200 && answer.status < 300) {
      const json = parseJson(answer.body);
      if (typeof json !== 'object' || json === null || Array.isArray(json))
        throw new OpenAI.APIError(answer.status, undefined, `the upstream answered ${answer.status} without a JSON object`, responseHeaders(answer.headers));
      return json as Record<string, unknown>;
    }
    if (left > 0 && shouldRetry(answer.status, answer.headers)) {
      await sleep(retryDelayMs(attempt, answer.headers, o.random), o.signal);
      continue;
    }
    // As the SDK: the error object of a JSON body, else the body's text as the message.
    const json = parseJson(answer.body) as Record<string, unknown> | undefined;
    const text = answer.body?.toString('utf8') || undefined;
    throw OpenAI.APIError.generate(answer.status, json, json ? undefined : text, responseHeaders(answer.headers));
  }
}
