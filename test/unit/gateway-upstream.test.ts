import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerRecord, nodeFetch } from '../../src/gateway/http-fetch';
import { Upstreams } from '../../src/gateway/upstream';
import { postCompletion, retryDelayMs, shouldRetry } from '../../src/gateway/upstream-call';

describe('upstream retry policy (the OpenAI SDK’s)', () => {
  it('retries 408, 409, 429 and 5xx unless x-should-retry says otherwise', () => {
    expect([200, 400, 401, 404, 408, 409, 422, 429, 500, 503].filter((s) => shouldRetry(s, {}))).toEqual([408, 409, 429, 500, 503]);
    expect(shouldRetry(503, { 'x-should-retry': 'false' })).toBe(false);
    expect(shouldRetry(400, { 'x-should-retry': 'true' })).toBe(true);
  });

  it('waits what the answer asks under a minute, else 0.5 s doubling to 8 s less up to 25% jitter', () => {
    expect(retryDelayMs(0, { 'retry-after-ms': '120' })).toBe(120);
    expect(retryDelayMs(0, { 'retry-after': '2' })).toBe(2000);
    expect(retryDelayMs(0, { 'retry-after': new Date(10_000 + 3_000).toUTCString() }, Math.random, 10_000)).toBe(3000);
    const none = () => 0; // no jitter
    expect([0, 1, 2, 3, 4, 5].map((a) => retryDelayMs(a, null, none))).toEqual([500, 1000, 2000, 4000, 8000, 8000]);
    expect(retryDelayMs(0, { 'retry-after': '120' }, none)).toBe(500); // over a minute: ignored
    expect(retryDelayMs(1, null, () => 1)).toBe(750);
  });
});

/** A local server whose handler each test sets; counts the TCP connections it accepted. */
const srv = { handler: (_q: IncomingMessage, _s: ServerResponse, _body: string) => {}, connections: 0, url: '' };
const server = createServer((q, s) => {
  const parts: Buffer[] = [];
  q.on('data', (p: Buffer) => parts.push(p));
  q.on('end', () => srv.handler(q, s, Buffer.concat(parts).toString('utf8')));
});
server.on('connection', () => srv.connections++);
const json = (s: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  s.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  srv.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('node:http fetch for the upstreams', () => {
  it('keeps connections alive, sends headers and body, and answers a Response the SDK can read', async () => {
    const seen: Array<{ method?: string; auth?: string; body: string }> = [];
    srv.handler = (q, s, body) => {
      seen.push({ method: q.method, auth: q.headers.authorization, body });
      json(s, 200, { ok: true, n: seen.length }, { 'x-thing': 'yes' });
    };
    const before = srv.connections;
    const h = nodeFetch();
    for (let i = 0; i < 5; i++) {
      const r = await h.fetch(`${srv.url}/x`, { method: 'post', headers: new Headers({ authorization: 'Bearer k' }), body: `{"i":${i}}` });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-thing')).toBe('yes');
      expect(await r.json()).toEqual({ ok: true, n: i + 1 });
    }
    expect(srv.connections - before).toBe(1);
    expect(seen.at(-1)).toEqual({ method: 'POST', auth: 'Bearer k', body: '{"i":4}' });
    h.close();
  });

  it('passes an event stream through as it comes', async () => {
    srv.handler = (_q, s) => {
      s.writeHead(200, { 'content-type': 'text/event-stream' });
      s.write('data: 1\n\n');
      setTimeout(() => s.end('data: 2\n\n'), 20);
    };
    const h = nodeFetch();
    const r = await h.fetch(`${srv.url}/s`, { method: 'POST', body: '{}' });
    const reader = r.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: 1\n\n');
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += new TextDecoder().decode(c.value);
    expect(rest).toBe('data: 2\n\n');
    h.close();
  });

  it('an abort rejects with an AbortError', async () => {
    srv.handler = (_q, s) => setTimeout(() => json(s, 200, {}), 500);
    const h = nodeFetch();
    const c = new AbortController();
    const p = h.fetch(`${srv.url}/slow`, { method: 'POST', body: '{}', signal: c.signal });
    setTimeout(() => c.abort(), 10);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    h.close();
  });

  it('reads header records of every shape', () => {
    expect(headerRecord({ A: '1', b: undefined })).toEqual({ a: '1' });
    expect(headerRecord([['X-Y', '2']])).toEqual({ 'x-y': '2' });
    expect(headerRecord(new Headers({ Z: '3' }))).toEqual({ z: '3' });
  });
});

describe('non-streamed completions (upstream-call.ts)', () => {
  it('retries a 503 as the SDK would and returns the answer', async () => {
    let n = 0;
    srv.handler = (_q, s, body) =>
      ++n < 3 ? json(s, 503, { error: { message: 'busy' } }, { 'retry-after-ms': '5' }) : json(s, 200, { id: 'c1', echo: JSON.parse(body) });
    const h = nodeFetch();
    const r = await postCompletion(h, new URL(`${srv.url}/v1/chat/completions`), 'k', { model: 'm' }, { timeoutMs: 1000, retries: 2 });
    expect(r).toEqual({ id: 'c1', echo: { model: 'm' } });
    expect(n).toBe(3);
    h.close();
  });

  it('throws the SDK’s errors: by status with the upstream’s message, and a timeout', async () => {
    srv.handler = (_q, s) => json(s, 400, { error: { message: 'bad model', type: 'invalid_request_error' } });
    const h = nodeFetch();
    const url = new URL(`${srv.url}/v1/chat/completions`);
    const err = await postCompletion(h, url, 'k', {}, { timeoutMs: 1000, retries: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toBe('400 bad model');
    srv.handler = (_q, s) => setTimeout(() => json(s, 200, {}), 300);
    await expect(postCompletion(h, url, 'k', {}, { timeoutMs: 20, retries: 0 })).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    h.close();
  });

  it('Upstreams send non-streamed requests to <baseURL>/chat/completions with the key, and streams through the SDK', async () => {
    const paths: string[] = [];
    srv.handler = (q, s, body) => {
      paths.push(`${q.url} ${q.headers.authorization}`);
      const b = JSON.parse(body) as { stream?: boolean };
      if (!b.stream) return json(s, 200, { id: 'a', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }] });
      s.writeHead(200, { 'content-type': 'text/event-stream' });
      s.end(`data: ${JSON.stringify({ id: 'b', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'yo' } }] })}\n\ndata: [DONE]\n\n`);
    };
    const u = new Upstreams({ frontier: { baseURL: `${srv.url}/v1/`, apiKey: 'sk-1' }, timeoutMs: 1000, retries: 0 });
    expect((await u.complete('frontier', { model: 'm', messages: [] })).id).toBe('a');
    const chunks: unknown[] = [];
    for await (const c of await u.stream('frontier', { model: 'm', messages: [] })) chunks.push(c);
    expect(chunks).toMatchObject([{ id: 'b' }]);
    expect(paths).toEqual(['/v1/chat/completions Bearer sk-1', '/v1/chat/completions Bearer sk-1']);
    u.close();
  });
});
