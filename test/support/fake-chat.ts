/**
 * A minimal OpenAI-compatible chat server of the tests' (and the gateway benchmark's) own: POST /v1/chat/completions,
 * JSON or SSE, answering `answer(body)` after `delayMs`, with usage counted in words. Records every request body.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeChat {
  baseURL: string;
  requests: Array<Record<string, unknown>>;
  answer: (body: { model: string; messages: Array<{ role: string; content: unknown }> }) => string;
  delayMs: number;
  /** Answer with this HTTP status instead (e.g. 503 to make the gateway fall back). */
  failWith: number | null;
  close(): Promise<void>;
}

let seq = 0;

export async function startFakeChat(
  name: string,
  opts: {
    delayMs?: number;
    record?: boolean;
    /** Each answered request's body and the ms from its arrival to its answer. */ onServed?: (body: Record<string, unknown>, ms: number) => void;
  } = {},
): Promise<FakeChat> {
  const state: FakeChat = {
    baseURL: '',
    requests: [],
    answer: (b) => `${name} (${b.model}) answers: ${String([...b.messages].reverse().find((m) => m.role === 'user')?.content ?? '')}`,
    delayMs: opts.delayMs ?? 0,
    failWith: null,
    close: async () => undefined,
  };
  const record = opts.record ?? true;
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (p: Buffer) => parts.push(p));
    req.on('end', () => {
      const arrived = performance.now();
      const reply = () => {
        if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
          return;
        }
        const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Parameters<FakeChat['answer']>[0] & { stream?: boolean };
        if (record) state.requests.push(body);
        if (state.failWith) {
          res.writeHead(state.failWith, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `${name} is down` } }));
          return;
        }
        const text = state.answer(body);
        const id = `chatcmpl-${name}-${++seq}`;
        const usage = { prompt_tokens: 10, completion_tokens: text.split(/\s+/).length, total_tokens: 10 + text.split(/\s+/).length };
        const created = Math.floor(Date.now() / 1000);
        if (body.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const base = { id, object: 'chat.completion.chunk', created, model: body.model };
          const words = text.split(/(?<= )/);
          res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
          for (const w of words) res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage })}\n\n`);
          res.end('data: [DONE]\n\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.once('finish', () => opts.onServed?.(body, performance.now() - arrived));
        res.end(
          JSON.stringify({
            id,
            object: 'chat.completion',
            created,
            model: body.model,
            choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
            usage,
          }),
        );
      };
      if (state.delayMs > 0) setTimeout(reply, state.delayMs);
      else reply();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
