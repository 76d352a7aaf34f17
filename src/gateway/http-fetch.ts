import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';

/**
 * A `fetch` for the gateway's OpenAI clients over node:http(s) with keep-alive agents. Why: Node's built-in fetch
 * (undici behind WHATWG streams) costs 0.3–0.8 ms of CPU per small request here and writes a request's headers and
 * body in separate syscalls; node:http writes a request in one and costs about 0.1 ms — on a forwarded request that
 * is most of the gateway's own time. Keep-alive sockets are kept a few seconds (under common servers' idle limits);
 * a request whose reused socket the server had already closed is sent once more on a new one (nothing of it was
 * answered). A JSON answer is read whole before its Response is made (cheaper than a web stream); an event stream is
 * passed through as one. Anything this does not handle (a Request object, a streamed or form body) goes to the
 * built-in fetch.
 */

export interface NodeFetch {
  fetch: typeof fetch;
  /** Closes the idle keep-alive sockets. */
  close(): void;
}

export interface NodeFetchOptions {
  /** How long an idle socket is kept for the next request (ms). */
  keepAliveMs?: number;
  /** Most sockets per upstream host. */
  maxSockets?: number;
}

type Body = string | Uint8Array | undefined;

function bodyOf(b: unknown): Body | null {
  if (b === undefined || b === null) return undefined;
  if (typeof b === 'string' || b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  return null;
}

/** Request headers as node:http takes them (a Headers object, pairs or a record). */
export function headerRecord(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(h)) for (const [k, v] of h as Array<[string, string]>) out[k.toLowerCase()] = String(v);
  else for (const [k, v] of Object.entries(h as Record<string, unknown>)) if (v !== undefined && v !== null) out[k.toLowerCase()] = String(v);
  return out;
}

/** Response headers from node:http's (lower-case names; repeated ones as arrays). */
export function responseHeaders(h: http.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.append(k, x);
    else out.append(k, v);
  }
  return out;
}

/** Statuses whose Response may not carry a body. */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

function decoded(res: http.IncomingMessage): Readable {
  switch (String(res.headers['content-encoding'] ?? '').toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return res.pipe(zlib.createGunzip());
    case 'deflate':
      return res.pipe(zlib.createInflate());
    case 'br':
      return res.pipe(zlib.createBrotliDecompress());
    default:
      return res;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  const e = new Error('This operation was aborted', { cause: reason });
  e.name = 'AbortError';
  return e;
}

/** An answer as node:http gave it: a body read whole, or (an event stream) the decoded stream. */
export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer | null;
  stream: Readable | null;
}

export interface HttpClient extends NodeFetch {
  /** One exchange; rejects on a connection error or an abort (an Error named AbortError). */
  request(url: URL, method: string, headers: Record<string, string>, body: Body, signal?: AbortSignal): Promise<HttpAnswer>;
}

export function nodeFetch(opts: NodeFetchOptions = {}): HttpClient {
  const agentOpts = { keepAlive: true, timeout: opts.keepAliveMs ?? 4_000, maxSockets: opts.maxSockets ?? 256 };
  const agents = { 'http:': new http.Agent(agentOpts), 'https:': new https.Agent(agentOpts) };

  const send = (url: URL, method: string, headers: Record<string, string>, body: Body, signal: AbortSignal | undefined, retry: boolean): Promise<HttpAnswer> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const mod = url.protocol === 'https:' ? https : http;
      let answered = false;
      const req = mod.request(url, { method, headers, agent: agents[url.protocol as 'http:' | 'https:'] });
      const onAbort = () => req.destroy(abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      req.on('error', (err: NodeJS.ErrnoException) => {
        done();
        // A kept-alive socket the server closed meanwhile: the request never reached it, so it is safe to send again.
        if (!answered && retry && req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE'))
          send(url, method, headers, body, signal, false).then(resolve, reject);
        else reject(err);
      });
      req.on('response', (res) => {
        answered = true;
        const a: HttpAnswer = { status: res.statusCode ?? 502, statusText: res.statusMessage ?? '', headers: res.headers, body: null, stream: null };
        if (NO_BODY.has(a.status) || method === 'HEAD') {
          res.resume();
          done();
          return resolve(a);
        }
        const stream = decoded(res);
        if (/^text\/event-stream/i.test(String(res.headers['content-type'] ?? ''))) {
          stream.once('end', done).once('error', done);
          return resolve({ ...a, stream });
        }
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.once('error', (err) => {
          done();
          reject(err);
        });
        stream.once('end', () => {
          done();
          resolve({ ...a, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
        });
      });
      if (body !== undefined && headers['content-length'] === undefined) req.setHeader('content-length', Buffer.byteLength(body));
      // Headers and body in one write.
      req.end(body);
    });

  const f = async (input: Parameters<typeof fetch>[0], init: RequestInit = {}): Promise<Response> => {
    const body = bodyOf(init.body);
    if (input instanceof Request || body === null) return fetch(input, init);
    const url = input instanceof URL ? input : new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fetch(input, init);
    const method = (init.method ?? 'GET').toUpperCase();
    const a = await send(url, method, headerRecord(init.headers), body, init.signal ?? undefined, true);
    const resInit = { status: a.status, statusText: a.statusText, headers: responseHeaders(a.headers) };
    if (a.stream) return new Response(Readable.toWeb(a.stream) as ReadableStream<Uint8Array>, resInit);
    return new Response(a.body, resInit);
  };

  return {
    fetch: f as typeof fetch,
    request: (url, method, headers, body, signal) => send(url, method, headers, body, signal, true),
    close: () => {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
