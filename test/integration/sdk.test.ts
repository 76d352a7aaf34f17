/**
 * The SDK end to end: the real `openai` client talks to a deterministic OpenAI-compatible server of this test's own,
 * and logs to the real Distillery API (buildApi) backed by a fresh migrated Postgres database.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApi } from '../../src/api/server';
import { DistilleryError, withDistillery } from '../../src/sdk';
import { createApiKey } from '../../src/keys/store';
import { ensureTenant } from '../../src/tenants/store';
import { createTestDatabase } from '../support/postgres';

/** Every non-streaming answer takes at least this long, so the logged latency can be checked. */
const ANSWER_DELAY_MS = 40;

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let api: FastifyInstance;
let endpoint: string;
let apiKey: string;
let fakeOpenAI: FakeOpenAI;

beforeAll(async () => {
  testDb = await createTestDatabase('sdk');
  await ensureTenant(testDb.database.db, 'acme');
  apiKey = await createApiKey(testDb.database.db, 'acme');
  api = await buildApi({
    db: testDb.database.db,
    api: { host: '127.0.0.1', port: 0, bodyLimitBytes: 10 * 1024 * 1024, batchMaxItems: 1000 },
    logLevel: 'warn',
  });
  endpoint = await api.listen({ host: '127.0.0.1', port: 0 });
  fakeOpenAI = await startFakeOpenAI();
});

afterAll(async () => {
  await api?.close();
  await fakeOpenAI?.close();
  await testDb?.drop();
});

function openai(): OpenAI {
  return new OpenAI({ baseURL: `${fakeOpenAI.url}/v1`, apiKey: 'test', maxRetries: 0 });
}

interface InteractionDbRow {
  id: string;
  idempotency_key: string;
  teacher_model: string;
  query_text: string;
  answer_text: string;
  latency_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  metadata: Record<string, unknown>;
  request_params: Record<string, unknown>;
  response: Record<string, unknown>;
  source: string;
}

async function interactionsFor(key: string): Promise<InteractionDbRow[]> {
  const res = await testDb.database.pool!.query<InteractionDbRow>(`select * from interactions where tenant_id = 'acme' and idempotency_key = $1`, [key]);
  return res.rows;
}

async function feedbackFor(interactionId: string): Promise<Array<{ kind: string; corrected_answer: string | null; score: number | null }>> {
  const res = await testDb.database.pool!.query(`select kind, corrected_answer, score from feedback where interaction_id = $1 order by id`, [interactionId]);
  return res.rows;
}

describe('withDistillery', () => {
  it('returns the completion unchanged and logs it with query, answer, model, latency and metadata', async () => {
    const onError = vi.fn();
    const client = withDistillery(openai(), { endpoint, apiKey, metadata: { app: 'sdk-test' }, onError });
    expect(client).toBeInstanceOf(OpenAI);

    const params = {
      model: 'teacher-large',
      temperature: 0.2,
      messages: [
        { role: 'system' as const, content: 'Be brief.' },
        { role: 'user' as const, content: 'What is the capital of France?' },
      ],
    };
    const completion = await client.chat.completions.create(params);

    expect(completion).toEqual(fakeOpenAI.lastCompletion);
    expect(completion.choices[0]!.message.content).toBe('Answer to: What is the capital of France?');

    await client.distillery.flush();
    const rows = await interactionsFor(`response:${completion.id}`);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.teacher_model).toBe('teacher-large');
    expect(row.query_text).toBe('What is the capital of France?');
    expect(row.answer_text).toBe('Answer to: What is the capital of France?');
    expect(row.latency_ms).toBeGreaterThanOrEqual(ANSWER_DELAY_MS - 5);
    expect(row.latency_ms).toBeLessThan(10_000);
    expect(row.prompt_tokens).toBe(12);
    expect(row.completion_tokens).toBe(8); // "Answer to: What is the capital of France?"
    expect(row.metadata).toEqual({ app: 'sdk-test' });
    expect(row.request_params).toEqual({ temperature: 0.2 });
    expect(row.source).toBe('api');
    expect(onError).not.toHaveBeenCalled();
  });

  it('keeps APIPromise helpers (withResponse) working and logs those calls too', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, onError: vi.fn() });
    const { data, response, request_id } = await client.chat.completions
      .create({ model: 'teacher-large', messages: [{ role: 'user', content: 'with response' }] })
      .withResponse();
    expect(response.status).toBe(200);
    expect(request_id).toBe(fakeOpenAI.lastRequestId);
    expect(data.choices[0]!.message.content).toBe('Answer to: with response');
    await client.distillery.flush();
    expect(await interactionsFor(`response:${data.id}`)).toHaveLength(1);
  });

  it('attaches per-call metadata through withMetadata, merged over the client metadata', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, metadata: { app: 'sdk-test', env: 'ci' }, onError: vi.fn() });
    const faq = client.distillery.withMetadata({ feature: 'faq', env: 'staging' });
    expect(faq).toBeInstanceOf(OpenAI);
    expect(faq.distillery.metadata).toEqual({ app: 'sdk-test', env: 'staging', feature: 'faq' });

    const c = await faq.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'faq question' }] });
    const plain = await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'plain question' }] });
    await client.distillery.flush();

    expect((await interactionsFor(`response:${c.id}`))[0]!.metadata).toEqual({ app: 'sdk-test', env: 'staging', feature: 'faq' });
    expect((await interactionsFor(`response:${plain.id}`))[0]!.metadata).toEqual({ app: 'sdk-test', env: 'ci' });
  });

  it('passes a stream through chunk by chunk and logs the assembled answer with usage', async () => {
    const onError = vi.fn();
    const client = withDistillery(openai(), { endpoint, apiKey, onError });
    const stream = await client.chat.completions.create({
      model: 'teacher-large',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Tell me a short story' }],
    });

    const received: ChatCompletionChunk[] = [];
    for await (const chunk of stream) received.push(chunk);

    expect(received.map((c) => c.id)).toEqual(fakeOpenAI.lastChunks.map((c) => c.id));
    expect(received).toHaveLength(fakeOpenAI.lastChunks.length);
    const text = received.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Answer to: Tell me a short story');

    await client.distillery.flush();
    const id = received[0]!.id;
    const rows = await interactionsFor(`response:${id}`);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.answer_text).toBe('Answer to: Tell me a short story');
    expect(row.query_text).toBe('Tell me a short story');
    expect(row.teacher_model).toBe('teacher-large');
    expect(row.prompt_tokens).toBe(12);
    expect(row.completion_tokens).toBe(7);
    expect(row.latency_ms).toBeGreaterThanOrEqual(0);
    expect(row.request_params).toEqual({ stream: true, stream_options: { include_usage: true } });
    expect(row.response).toMatchObject({
      id,
      object: 'chat.completion',
      model: 'teacher-large',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Answer to: Tell me a short story' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 7 },
    });
    expect(onError).not.toHaveBeenCalled();
  });

  it('assembles streamed tool calls', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, onError: vi.fn() });
    const stream = await client.chat.completions.create({
      model: 'teacher-large',
      stream: true,
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    let id = '';
    for await (const chunk of stream) id ||= chunk.id;
    await client.distillery.flush();
    const row = (await interactionsFor(`response:${id}`))[0]!;
    expect(row.response).toMatchObject({
      choices: [
        {
          message: { content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          finish_reason: 'tool_calls',
        },
      ],
    });
    expect(JSON.parse(row.answer_text)).toEqual([{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  });

  it('logs through parse(), stream(), tee() and withOptions() exactly once each', async () => {
    const onError = vi.fn();
    const client = withDistillery(openai(), { endpoint, apiKey, onError });

    const parsed = await client.chat.completions.parse({ model: 'teacher-large', messages: [{ role: 'user', content: 'parse me' }] });
    expect(parsed.choices[0]!.message.content).toBe('Answer to: parse me');

    const helper = client.chat.completions.stream({ model: 'teacher-large', messages: [{ role: 'user', content: 'stream helper' }] });
    const helperCompletion = await helper.finalChatCompletion();
    expect(helperCompletion.choices[0]!.message.content).toBe('Answer to: stream helper');

    const stream = await client.chat.completions.create({ model: 'teacher-large', stream: true, messages: [{ role: 'user', content: 'tee me' }] });
    const [left, right] = stream.tee();
    const read = async (s: AsyncIterable<ChatCompletionChunk>) => {
      let t = '';
      let id = '';
      for await (const c of s) {
        id ||= c.id;
        t += c.choices[0]?.delta.content ?? '';
      }
      return { t, id };
    };
    const [a, b] = await Promise.all([read(left), read(right)]);
    expect(a).toEqual(b);
    expect(a.t).toBe('Answer to: tee me');

    const scoped = client.withOptions({ timeout: 30_000 });
    expect(scoped).toBeInstanceOf(OpenAI);
    expect(scoped.distillery).toBe(scoped.distillery);
    const viaOptions = await scoped.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'with options' }] });

    await client.distillery.flush();
    expect(await interactionsFor(`response:${parsed.id}`)).toHaveLength(1);
    expect((await interactionsFor(`response:${a.id}`))[0]!.answer_text).toBe('Answer to: tee me');
    expect(await interactionsFor(`response:${viaOptions.id}`)).toHaveLength(1);
    expect((await interactionsFor(`response:${helperCompletion.id}`))[0]!.answer_text).toBe('Answer to: stream helper');
    const total = await testDb.database.pool!.query(
      `select count(*)::int as n from interactions where query_text in ('parse me', 'tee me', 'with options', 'stream helper')`,
    );
    expect(total.rows[0].n).toBe(4);
    expect(onError).not.toHaveBeenCalled();
  });

  it('accepts feedback on a streamed completion as soon as the stream has been read', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, onError: vi.fn() });
    const stream = await client.chat.completions.create({ model: 'teacher-large', stream: true, messages: [{ role: 'user', content: 'stream then rate' }] });
    let id = '';
    for await (const c of stream) id ||= c.id;
    await client.distillery.feedback(id, { kind: 'rejected' }); // no flush in between
    const row = (await interactionsFor(`response:${id}`))[0]!;
    expect(await feedbackFor(row.id)).toEqual([{ kind: 'rejected', corrected_answer: null, score: null }]);
  });

  it('does not log a stream the caller abandons halfway', async () => {
    const onError = vi.fn();
    const client = withDistillery(openai(), { endpoint, apiKey, onError });
    const stream = await client.chat.completions.create({ model: 'teacher-large', stream: true, messages: [{ role: 'user', content: 'abandon me please' }] });
    let id = '';
    for await (const chunk of stream) {
      id = chunk.id;
      break;
    }
    await client.distillery.flush();
    expect(await interactionsFor(`response:${id}`)).toHaveLength(0);
    expect(onError).not.toHaveBeenCalled();
  });

  it('records feedback right after the call, waiting for the in-flight log post', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, onError: vi.fn() });
    const completion = await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'How do I reset my password?' }] });
    // No flush: the log post is still in flight; feedback must wait for it rather than 404.
    await client.distillery.feedback(completion, { kind: 'edited', corrected_answer: 'Go to Settings > Security > Reset password.' });
    await client.distillery.feedback(completion.id, { kind: 'score', score: 0.25 });
    await client.distillery.feedback(`response:${completion.id}`, { kind: 'accepted' });

    const row = (await interactionsFor(`response:${completion.id}`))[0]!;
    expect(await feedbackFor(row.id)).toEqual([
      { kind: 'edited', corrected_answer: 'Go to Settings > Security > Reset password.', score: null },
      { kind: 'score', corrected_answer: null, score: 0.25 },
      { kind: 'accepted', corrected_answer: null, score: null },
    ]);

    // Each call is its own event (accept after reject must count), with its own key so the SDK's retries of one
    // post are harmless; a caller's own key makes a repeated call a duplicate (200), not an error.
    await client.distillery.feedback(completion, { kind: 'accepted' });
    expect(await feedbackFor(row.id)).toHaveLength(4);
    await client.distillery.feedback(completion, { kind: 'rejected', idempotency_key: 'sdk-fb-1' });
    await client.distillery.feedback(completion, { kind: 'rejected', idempotency_key: 'sdk-fb-1' });
    expect(await feedbackFor(row.id)).toHaveLength(5);
  });

  it('rejects feedback Distillery refuses, with the reason', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, onError: vi.fn() });
    const err = await client.distillery.feedback('chatcmpl-does-not-exist', { kind: 'accepted' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DistilleryError);
    expect(err).toMatchObject({ kind: 'rejected', status: 404, details: { field: 'interaction_key' } });
  });

  it('logs completions made elsewhere through log()', async () => {
    const client = withDistillery(openai(), { endpoint, apiKey, metadata: { app: 'sdk-test' }, onError: vi.fn() });
    const response: ChatCompletion = {
      id: 'chatcmpl-manual-1',
      object: 'chat.completion',
      created: 1_760_000_000,
      model: 'teacher-large',
      choices: [{ index: 0, message: { role: 'assistant', content: 'manual answer', refusal: null }, finish_reason: 'stop', logprobs: null }],
    };
    const result = await client.distillery.log({
      request: { model: 'teacher-large', messages: [{ role: 'user', content: 'manual question' }] },
      response,
      latency_ms: 321,
      metadata: { batch: 7 },
    });
    // The key is the interaction's identity; no internal (global-sequence) id reaches the app.
    expect(result).toEqual({ status: 'stored', key: 'response:chatcmpl-manual-1' });
    const row = (await interactionsFor('response:chatcmpl-manual-1'))[0]!;
    expect(row).toMatchObject({ answer_text: 'manual answer', latency_ms: 321, metadata: { app: 'sdk-test', batch: 7 } });
  });

  it('never breaks the OpenAI call when Distillery is down, and reports to onError', async () => {
    const closedPort = await freePort();
    const onError = vi.fn();
    const client = withDistillery(openai(), { endpoint: `http://127.0.0.1:${closedPort}`, apiKey, onError, maxRetries: 2, retryBaseDelayMs: 5 });

    const completion = await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'still works?' }] });
    expect(completion.choices[0]!.message.content).toBe('Answer to: still works?');

    const stream = await client.chat.completions.create({ model: 'teacher-large', stream: true, messages: [{ role: 'user', content: 'stream still works?' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Answer to: stream still works?');

    await client.distillery.flush();
    expect(onError).toHaveBeenCalledTimes(2);
    const err = onError.mock.calls[0]![0] as DistilleryError;
    expect(err).toBeInstanceOf(DistilleryError);
    expect(err.kind).toBe('network');
    expect(err.details.attempts).toBe(3);

    // Feedback is awaited by the caller, so it rejects instead.
    await expect(client.distillery.feedback(completion, { kind: 'accepted' })).rejects.toMatchObject({ kind: 'network' });
  });

  it('warns once per kind of failure by default', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const client = withDistillery(openai(), { endpoint, apiKey: 'dk_wrong', maxRetries: 0 });
      await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'bad key 1' }] });
      await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'bad key 2' }] });
      await client.distillery.flush();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]![0])).toMatch(/\[distillery\] interaction not logged: Distillery answered 401/);
    } finally {
      warn.mockRestore();
    }
  });

  it('does not retry a 4xx other than 429', async () => {
    const calls: string[] = [];
    const onError = vi.fn();
    const client = withDistillery(openai(), {
      endpoint,
      apiKey: 'dk_wrong',
      onError,
      retryBaseDelayMs: 5,
      fetch: (input, init) => {
        calls.push(String(input));
        return fetch(input, init);
      },
    });
    await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'no retry on 401' }] });
    await client.distillery.flush();
    expect(calls).toHaveLength(1);
    expect(onError.mock.calls[0]![0]).toMatchObject({ kind: 'rejected', status: 401 });
  });

  it('retries a 503 (and a 429 with Retry-After) and stores exactly one row', async () => {
    const attempts: number[] = [];
    const onError = vi.fn();
    let n = 0;
    const flaky: typeof fetch = async (input, init) => {
      n++;
      attempts.push(n);
      if (n === 1) return new Response(JSON.stringify({ error: { field: '(server)', message: 'try later' } }), { status: 503 });
      if (n === 2) return new Response('slow down', { status: 429, headers: { 'retry-after': '0' } });
      return fetch(input, init);
    };
    const client = withDistillery(openai(), { endpoint, apiKey, onError, fetch: flaky, retryBaseDelayMs: 5 });
    const completion = await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'retry me' }] });
    await client.distillery.flush();
    expect(attempts).toEqual([1, 2, 3]);
    expect(onError).not.toHaveBeenCalled();
    expect(await interactionsFor(`response:${completion.id}`)).toHaveLength(1);
  });

  it('a retry after a post that did land (lost response) is a duplicate, still one row', async () => {
    const onError = vi.fn();
    let n = 0;
    const lossy: typeof fetch = async (input, init) => {
      n++;
      const res = await fetch(input, init);
      // The first post reaches Distillery and is stored, but its answer is "lost" on the way back.
      if (n === 1) return new Response('bad gateway', { status: 502 });
      return res;
    };
    const client = withDistillery(openai(), { endpoint, apiKey, onError, fetch: lossy, retryBaseDelayMs: 5 });
    const completion = await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'lost answer' }] });
    await client.distillery.flush();
    expect(n).toBe(2);
    expect(onError).not.toHaveBeenCalled();
    expect(await interactionsFor(`response:${completion.id}`)).toHaveLength(1);
  });

  it('times out a hanging Distillery without holding up the OpenAI call', async () => {
    const hanging = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    try {
      const onError = vi.fn();
      const port = (hanging.address() as AddressInfo).port;
      const client = withDistillery(openai(), { endpoint: `http://127.0.0.1:${port}`, apiKey, onError, timeoutMs: 100, maxRetries: 1, retryBaseDelayMs: 5 });
      const started = Date.now();
      await client.chat.completions.create({ model: 'teacher-large', messages: [{ role: 'user', content: 'hang' }] });
      expect(Date.now() - started).toBeLessThan(1_000);
      await client.distillery.flush();
      expect(onError).toHaveBeenCalledTimes(1);
      expect(onError.mock.calls[0]![0]).toMatchObject({ kind: 'timeout', details: { attempts: 2 } });
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });
});

// --- a deterministic OpenAI-compatible server -------------------------------------------------------------------

interface FakeOpenAI {
  url: string;
  lastCompletion: ChatCompletion | undefined;
  lastChunks: ChatCompletionChunk[];
  lastRequestId: string | undefined;
  close(): Promise<void>;
}

async function startFakeOpenAI(): Promise<FakeOpenAI> {
  let counter = 0;
  const state: FakeOpenAI = { url: '', lastCompletion: undefined, lastChunks: [], lastRequestId: undefined, close: async () => undefined };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(err) } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    let raw = '';
    for await (const part of req) raw += String(part);
    const body = JSON.parse(raw) as {
      model: string;
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
      tools?: unknown[];
      messages: Array<{ role: string; content: string }>;
    };
    counter++;
    const id = `chatcmpl-test-${counter}`;
    const requestId = `req_${counter}`;
    state.lastRequestId = requestId;
    const question = [...body.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const answer = `Answer to: ${question}`;
    const created = 1_760_000_000 + counter;
    const usage = { prompt_tokens: 12, completion_tokens: answer.split(' ').length, total_tokens: 12 + answer.split(' ').length };

    if (!body.stream) {
      await sleep(ANSWER_DELAY_MS);
      const completion: ChatCompletion = {
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: answer, refusal: null }, finish_reason: 'stop', logprobs: null }],
        usage,
      };
      state.lastCompletion = completion;
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end(JSON.stringify(completion));
      return;
    }

    const chunk = (choices: ChatCompletionChunk.Choice[], extra: Partial<ChatCompletionChunk> = {}): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices,
      ...extra,
    });
    const chunks: ChatCompletionChunk[] = [];
    if (body.tools?.length) {
      chunks.push(
        chunk([
          {
            index: 0,
            delta: {
              role: 'assistant',
              content: null,
              tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }],
            },
            finish_reason: null,
          },
        ]),
      );
      for (const part of ['{"city"', ':"Par', 'is"}'])
        chunks.push(chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: part } }] }, finish_reason: null }]));
      chunks.push(chunk([{ index: 0, delta: {}, finish_reason: 'tool_calls' }]));
    } else {
      chunks.push(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
      const words = answer.split(' ');
      words.forEach((w, i) => chunks.push(chunk([{ index: 0, delta: { content: i === 0 ? w : ` ${w}` }, finish_reason: null }])));
      chunks.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    }
    if (body.stream_options?.include_usage) chunks.push(chunk([], { usage }));
    state.lastChunks = chunks;

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': requestId });
    for (const c of chunks) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(c)}\n\n`);
      await sleep(5);
    }
    res.end('data: [DONE]\n\n');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** A port nothing listens on: bind one, then release it. */
async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
