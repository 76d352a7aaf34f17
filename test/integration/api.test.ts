import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TenantKeyCache } from '../../src/api/auth';
import { buildApi } from '../../src/api/server';
import type { Config } from '../../src/config';
import { type Db, openDatabase, rowsOf } from '../../src/db/client';
import { createApiKey, hashKey, listApiKeys, revokeApiKey } from '../../src/keys/store';
import { ensureTenant } from '../../src/tenants/store';
import { createTestDatabase } from '../support/postgres';

const API: Config['api'] = { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024, batchMaxItems: 10 };

let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
let app: FastifyInstance;
let keyA: string;
let keyB: string;
let reviewA: string;

beforeAll(async () => {
  testDb = await createTestDatabase('api');
  db = testDb.database.db;
  await ensureTenant(db, 'tenant-a');
  await ensureTenant(db, 'tenant-b');
  // SDK-style keys (ingest only) for the interaction and feedback routes; the review routes get their own below.
  keyA = await createApiKey(db, 'tenant-a', { name: 'app-a', scopes: ['ingest'] });
  keyB = await createApiKey(db, 'tenant-b', { name: 'app-b', scopes: ['ingest'] });
  reviewA = await createApiKey(db, 'tenant-a', { name: 'ada@example.com', scopes: ['review'] });
  app = await buildApi({ db, api: API, logLevel: 'silent' });
});

afterAll(async () => {
  await app?.close();
  await testDb?.drop();
});

let seq = 0;
/** A teacher call in the OpenAI request/response shape, with a fresh response id unless given one. */
function record(opts: { id?: string; question?: string; answer?: string; extra?: Record<string, unknown> } = {}) {
  const id = opts.id ?? `chatcmpl-${Date.now()}-${++seq}`;
  return {
    request: {
      model: 'gpt-4o',
      temperature: 0.2,
      messages: [
        { role: 'system', content: 'You are a support agent.' },
        { role: 'user', content: opts.question ?? 'where is my order 123' },
      ],
    },
    response: {
      id,
      object: 'chat.completion',
      model: 'gpt-4o-2024-08-06',
      choices: [{ index: 0, message: { role: 'assistant', content: opts.answer ?? 'Order 123 shipped yesterday.' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
    },
    ...opts.extra,
  };
}

function post(url: string, body: unknown, key: string | null = keyA, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...headers },
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
}

async function count(table: 'interactions' | 'feedback', tenant: string): Promise<number> {
  const rows = rowsOf<{ n: string }>(await db.execute(sql`select count(*)::text as n from ${sql.identifier(table)} where tenant_id = ${tenant}`));
  return Number(rows[0]!.n);
}

/** Stores a record and returns its key: the only identity the API gives an interaction. */
async function storeOne(key = keyA, rec: unknown = record()): Promise<string> {
  const res = await post('/v1/interactions', rec, key);
  expect(res.statusCode).toBe(201);
  return res.json().key as string;
}

/** The internal id of a tenant-a interaction, by its key (tests look at rows; the API never shows ids). */
const rowOf = (key: string) => sql`(select id from interactions where tenant_id = 'tenant-a' and idempotency_key = ${key})`;

describe('health and docs', () => {
  it('GET /healthz needs no key', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });

  it('GET /openapi.json documents every route, the bearer scheme, bodies and the error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz',
      '/openapi.json',
      '/readyz',
      '/v1/feedback',
      '/v1/interactions',
      '/v1/interactions/batch',
      '/v1/review/candidates',
      '/v1/review/candidates/{id}',
      '/v1/review/candidates/{id}/decision',
      '/v1/savings',
      '/v1/whoami',
    ]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    for (const path of ['/v1/interactions', '/v1/interactions/batch', '/v1/feedback']) {
      const op = doc.paths[path].post;
      expect(op.requestBody.content['application/json'].schema, path).toBeTruthy();
      for (const status of ['400', '401', '403', '413', '415', '500', '503']) {
        expect(op.responses[status].content['application/json'].schema.properties.error.required, `${path} ${status}`).toEqual(['field', 'message']);
      }
    }
    const batch = doc.paths['/v1/interactions/batch'].post;
    expect(batch.description).toContain('Per-item results');
    expect(batch.requestBody.content['application/json'].schema.properties.interactions.maxItems).toBe(API.batchMaxItems);
    expect(batch.responses['200'].content['application/json'].schema.properties.results.items.properties.status.enum).toEqual([
      'stored',
      'duplicate',
      'conflict',
      'invalid',
    ]);
    expect(doc.paths['/v1/interactions'].post.responses['409']).toBeTruthy();
    expect(doc.paths['/v1/feedback'].post.responses['404']).toBeTruthy();
    const decision = doc.paths['/v1/review/candidates/{id}/decision'].post;
    expect(decision.requestBody.content['application/json'].schema.properties.action.enum).toEqual(['approve', 'approve_with_edits', 'reject']);
    for (const status of ['400', '401', '403', '404', '409', '503']) expect(decision.responses[status], status).toBeTruthy();
    expect(decision.requestBody.content['application/json'].schema.properties.reviewer).toBeUndefined();
    expect(doc.paths['/v1/review/candidates'].get.parameters.find((p: { name: string }) => p.name === 'status').schema.enum).toContain('all');
    expect(doc.paths['/v1/review/candidates/{id}'].get.responses['404']).toBeTruthy();
    // The limits the server enforces are stated, so a generator (schemathesis) can tell valid from invalid.
    const [reqRes, chatLog] = doc.paths['/v1/interactions'].post.requestBody.content['application/json'].schema.oneOf;
    expect(reqRes.properties.latency_ms).toMatchObject({ minimum: 0, maximum: 2_147_483_647 });
    expect(reqRes.properties.idempotency_key).toMatchObject({ maxLength: 256, pattern: '^[^\\u0000]*$' });
    expect(reqRes.properties.created_at.anyOf[0].pattern).toMatch(/^\^20/);
    expect(chatLog.required).toEqual(['messages', 'model', 'idempotency_key']);
    expect(doc.components.schemas.JsonValue.anyOf).toHaveLength(6);
    expect(doc.paths['/v1/interactions'].post.responses['503'].headers['Retry-After']).toBeTruthy();
    expect(doc.paths['/readyz'].get.responses['503']).toBeTruthy();
  });

  it('GET /review serves the review page without a key', async () => {
    const res = await app.inject({ method: 'GET', url: '/review' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(res.body).toContain('id="queue"');
  });

  it('unknown routes are a 404 in the error shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { field: '(path)', message: 'no route GET /v1/nope; see GET /openapi.json' } });
  });
});

describe('authentication', () => {
  it('rejects a missing, malformed, unknown or revoked key with 401 naming authorization, and writes nothing', async () => {
    const before = await count('interactions', 'tenant-a');
    const missing = await post('/v1/interactions', record(), null);
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer');
    expect(missing.json().error.field).toBe('authorization');
    expect(missing.json().error.message).toContain('Authorization: Bearer');

    const basic = await post('/v1/interactions', record(), null, { authorization: `Basic ${keyA}` });
    expect(basic.statusCode).toBe(401);
    expect(basic.json().error.field).toBe('authorization');

    const unknown = await post('/v1/interactions', record(), 'dk_not-a-real-key');
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual({ error: { field: 'authorization', message: 'unknown or revoked API key' } });

    const revoked = await createApiKey(db, 'tenant-a', { name: 'soon-revoked' });
    await db.execute(sql`update api_keys set revoked_at = now() where key_hash = ${hashKey(revoked)}`);
    const rev = await post('/v1/feedback', { interaction_key: 'x', kind: 'accepted' }, revoked);
    expect(rev.statusCode).toBe(401);
    expect(rev.json().error.field).toBe('authorization');

    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('checks the key before reading the body (no 400/413 leaks to an unauthenticated caller)', async () => {
    const res = await post('/v1/interactions', '{not json', 'dk_wrong');
    expect(res.statusCode).toBe(401);
  });

  it('looks a key up in the database once, then serves it from the cache', async () => {
    let lookups = 0;
    const cache = new TenantKeyCache(async (key) => {
      lookups++;
      return key === keyA ? { tenantId: 'tenant-a', keyId: 1, name: 'app-a', scopes: ['ingest' as const] } : undefined;
    });
    const cached = await buildApi({ db, api: API, logLevel: 'silent', keyCache: cache });
    try {
      for (let i = 0; i < 3; i++) {
        const res = await cached.inject({
          method: 'POST',
          url: '/v1/interactions',
          headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
          payload: JSON.stringify(record()),
        });
        expect(res.statusCode).toBe(201);
      }
      expect(lookups).toBe(1);
    } finally {
      await cached.close();
    }
  });
});

describe('POST /v1/interactions', () => {
  it('stores once, answers a same-content retry as duplicate, and refuses a reused key with different content', async () => {
    const before = await count('interactions', 'tenant-a');
    const rec = record({ id: 'chatcmpl-single-1' });
    const first = await post('/v1/interactions', rec);
    expect(first.statusCode).toBe(201);
    // Its key, not an internal id: ids come from one global sequence and would show the platform's volume.
    expect(first.json()).toEqual({ key: 'response:chatcmpl-single-1', status: 'stored' });

    // Same content with keys in another order is the same record.
    const reordered = { response: rec.response, request: { messages: rec.request.messages, temperature: 0.2, model: 'gpt-4o' } };
    const retry = await post('/v1/interactions', reordered);
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual({ key: 'response:chatcmpl-single-1', status: 'duplicate' });

    const other = await post('/v1/interactions', record({ id: 'chatcmpl-single-1', answer: 'Something else entirely.' }));
    expect(other.statusCode).toBe(409);
    expect(other.json().error.field).toBe('idempotency_key');
    expect(other.json().error.message).toContain('response:chatcmpl-single-1');

    expect(await count('interactions', 'tenant-a')).toBe(before + 1);
    const row = rowsOf<Record<string, unknown>>(await db.execute(sql`select * from interactions where id = ${rowOf('response:chatcmpl-single-1')}`))[0]!;
    expect(row).toMatchObject({
      tenant_id: 'tenant-a',
      source: 'api',
      idempotency_key: 'response:chatcmpl-single-1',
      teacher_model: 'gpt-4o',
      query_text: 'where is my order 123',
      answer_text: 'Order 123 shipped yesterday.',
      prompt_tokens: 10,
      completion_tokens: 5,
    });
  });

  it('accepts an explicit idempotency_key, the chat-log shape, charset parameters and non-ASCII text', async () => {
    const withKey = await post(
      '/v1/interactions',
      { ...record(), idempotency_key: 'my-key-1', latency_ms: 812, cost_usd: 0.0021, metadata: { app: 'support' } },
      keyA,
      {
        'content-type': 'application/json; charset=utf-8',
      },
    );
    expect(withKey.statusCode).toBe(201);

    const chatLog = {
      model: 'gpt-4o',
      idempotency_key: 'chatlog-1',
      messages: [
        { role: 'user', content: 'où est ma commande 123 🚚 ?' },
        { role: 'assistant', content: 'Elle est partie hier.' },
      ],
    };
    const res = await post('/v1/interactions', chatLog);
    expect(res.statusCode).toBe(201);
    const row = rowsOf<{ query_text: string; answer_text: string }>(
      await db.execute(sql`select query_text, answer_text from interactions where id = ${rowOf(res.json().key)}`),
    )[0]!;
    expect(row).toEqual({ query_text: 'où est ma commande 123 🚚 ?', answer_text: 'Elle est partie hier.' });
  });

  it('stores inline feedback with the interaction', async () => {
    const res = await post('/v1/interactions', record({ extra: { feedback: { kind: 'edited', corrected_answer: 'Better answer.' } } }));
    expect(res.statusCode).toBe(201);
    const fb = rowsOf<{ kind: string; corrected_answer: string }>(
      await db.execute(sql`select kind, corrected_answer from feedback where interaction_id = ${rowOf(res.json().key)}`),
    );
    expect(fb).toEqual([{ kind: 'edited', corrected_answer: 'Better answer.' }]);
  });

  it('answers invalid records with 400 naming the field, and writes nothing', async () => {
    const before = await count('interactions', 'tenant-a');
    const cases: Array<[unknown, string, string | RegExp]> = [
      [{ request: { model: 'gpt-4o' }, response: record().response }, 'request.messages', 'required (array)'],
      [{ ...record(), request: { model: 'gpt-4o', messages: [{ role: 'robot', content: 'hi' }] } }, 'request.messages[0].role', /system/],
      [{ ...record(), response: { id: 'x', choices: [] } }, 'response.choices', 'needs at least one choice with the assistant message'],
      [{ ...record(), extra_field: 1 }, '(body)', /unknown field\(s\) extra_field/],
      [
        {
          messages: [
            { role: 'user', content: 'q' },
            { role: 'assistant', content: 'a' },
          ],
          idempotency_key: 'k',
        },
        'model',
        /required/,
      ],
      [{ ...record(), feedback: { kind: 'score', score: 3 } }, 'feedback.score', 'must be between 0 and 1'],
      [[record()], '(body)', /JSON object/],
      ['"just a string"', '(body)', /JSON object/],
    ];
    for (const [body, field, message] of cases) {
      const res = await post('/v1/interactions', typeof body === 'string' ? body : JSON.stringify(body));
      expect(res.statusCode, field).toBe(400);
      expect(res.json().error.field).toBe(field);
      expect(res.json().error.message).toMatch(message);
      expect(Object.keys(res.json())).toEqual(['error']);
    }
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('concurrent retries of one record store it exactly once', async () => {
    const before = await count('interactions', 'tenant-a');
    const rec = record();
    const results = await Promise.all(Array.from({ length: 8 }, () => post('/v1/interactions', rec)));
    const codes = results.map((r) => r.statusCode).sort();
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(results.map((r) => r.json().key))).toEqual(new Set([`response:${rec.response.id}`]));
    expect(await count('interactions', 'tenant-a')).toBe(before + 1);
  });

  it('concurrent overlapping batches and singles store each record exactly once', async () => {
    const before = await count('interactions', 'tenant-a');
    const recs = Array.from({ length: 6 }, () => record());
    const batches = [recs.slice(0, 4), recs.slice(2, 6), recs];
    const [r1, r2, r3, ...singles] = await Promise.all([
      ...batches.map((b) => post('/v1/interactions/batch', { interactions: b })),
      ...recs.map((r) => post('/v1/interactions', r)),
    ]);
    for (const r of [r1!, r2!, r3!, ...singles]) expect(r.statusCode).toBeLessThan(300);
    const stored = [r1!, r2!, r3!].reduce((n, r) => n + r.json().stored, 0) + singles.filter((r) => r.statusCode === 201).length;
    expect(stored).toBe(6);
    expect(await count('interactions', 'tenant-a')).toBe(before + 6);
  });
});

describe('POST /v1/interactions/batch', () => {
  it('validates and stores each item independently, with per-item results in input order', async () => {
    const before = await count('interactions', 'tenant-a');
    const a = record({ id: 'chatcmpl-batch-a' });
    const b = record({ id: 'chatcmpl-batch-b', question: 'can I return shoes?' });
    const items = [
      a,
      { request: { model: 'gpt-4o' }, response: a.response }, // no messages
      b,
      a, // repeated in the same batch: a retry
      record({ id: 'chatcmpl-batch-a', answer: 'different' }), // same key, other content
      42,
      {
        model: 'gpt-4o-mini',
        idempotency_key: 'batch-chatlog',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
        ],
      },
      { ...record(), request: { model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }, { role: 'alien' }] } },
    ];
    const res = await post('/v1/interactions/batch', { interactions: items });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.results.map((r: { index: number; status: string }) => [r.index, r.status])).toEqual([
      [0, 'stored'],
      [1, 'invalid'],
      [2, 'stored'],
      [3, 'duplicate'],
      [4, 'conflict'],
      [5, 'invalid'],
      [6, 'stored'],
      [7, 'invalid'],
    ]);
    expect(body.results[1].error).toEqual({ field: 'interactions[1].request.messages', message: 'required (array)' });
    expect(body.results[1].key).toBeUndefined();
    expect(body.results[0].key).toBe('response:chatcmpl-batch-a');
    expect(body.results[3].key).toBe(body.results[0].key);
    expect(body.results[4].key).toBe(body.results[0].key);
    expect(body.results.some((r: Record<string, unknown>) => 'id' in r)).toBe(false);
    expect(body.results[4].error.field).toBe('interactions[4].idempotency_key');
    expect(body.results[5].error.field).toBe('interactions[5]');
    expect(body.results[7].error.field).toBe('interactions[7].request.messages[1].role');
    expect(body.results[0].error).toBeUndefined();
    expect({ stored: body.stored, duplicates: body.duplicates, rejected: body.rejected }).toEqual({ stored: 3, duplicates: 1, rejected: 4 });
    expect(await count('interactions', 'tenant-a')).toBe(before + 3);
    const answer = rowsOf<{ answer_text: string }>(await db.execute(sql`select answer_text from interactions where id = ${rowOf(body.results[0].key)}`))[0]!;
    expect(answer.answer_text).toBe('Order 123 shipped yesterday.');

    // Re-sending the whole batch writes nothing new.
    const again = (await post('/v1/interactions/batch', { interactions: items })).json();
    expect(again.results.map((r: { status: string }) => r.status)).toEqual([
      'duplicate',
      'invalid',
      'duplicate',
      'duplicate',
      'conflict',
      'invalid',
      'duplicate',
      'invalid',
    ]);
    expect(again.results.map((r: { key?: string }) => r.key)).toEqual(body.results.map((r: { key?: string }) => r.key));
    expect({ stored: again.stored, duplicates: again.duplicates, rejected: again.rejected }).toEqual({ stored: 0, duplicates: 4, rejected: 4 });
    expect(await count('interactions', 'tenant-a')).toBe(before + 3);
  });

  it('accepts an all-invalid batch and an empty one without writing', async () => {
    const before = await count('interactions', 'tenant-a');
    const bad = await post('/v1/interactions/batch', { interactions: [{}, null] });
    expect(bad.statusCode).toBe(200);
    expect(bad.json()).toEqual({
      results: [
        { index: 0, status: 'invalid', error: { field: 'interactions[0].request', message: 'required (object)' } },
        { index: 1, status: 'invalid', error: { field: 'interactions[1]', message: 'must be a JSON object with request/response or messages' } },
      ],
      stored: 0,
      duplicates: 0,
      rejected: 2,
    });
    const empty = await post('/v1/interactions/batch', { interactions: [] });
    expect(empty.json()).toEqual({ results: [], stored: 0, duplicates: 0, rejected: 0 });
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('rejects a bad envelope with 400 and writes nothing', async () => {
    const before = await count('interactions', 'tenant-a');
    const tooMany = await post('/v1/interactions/batch', { interactions: Array.from({ length: API.batchMaxItems + 1 }, () => record()) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.field).toBe('interactions');
    expect(tooMany.json().error.message).toContain(`at most ${API.batchMaxItems}`);

    const missing = await post('/v1/interactions/batch', { records: [record()] });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.field).toBe('records');

    const notArray = await post('/v1/interactions/batch', { interactions: record() });
    expect(notArray.statusCode).toBe(400);
    expect(notArray.json().error.field).toBe('interactions');

    const bare = await post('/v1/interactions/batch', [record()]);
    expect(bare.statusCode).toBe(400);
    expect(bare.json().error.field).toBe('(body)');
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });
});

describe('POST /v1/feedback', () => {
  const interactionKey = 'fb-target-key';

  beforeAll(async () => {
    await storeOne(keyA, { ...record(), idempotency_key: interactionKey });
  });

  it('stores keyed feedback once (201 then 200 duplicate)', async () => {
    const before = await count('feedback', 'tenant-a');
    const first = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'accepted', idempotency_key: 'fb-once' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ key: 'fb-once', status: 'stored' });
    const again = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'accepted', idempotency_key: 'fb-once' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ key: first.json().key, status: 'duplicate' });
    expect(await count('feedback', 'tenant-a')).toBe(before + 1);
  });

  it('enforces the kind rules: edited needs corrected_answer, score needs 0..1, one reference', async () => {
    const before = await count('feedback', 'tenant-a');
    const cases: Array<[unknown, string, string | RegExp]> = [
      [{ interaction_key: interactionKey, kind: 'edited' }, 'corrected_answer', 'required when kind is "edited"'],
      [{ interaction_key: interactionKey, kind: 'score', score: 1.5 }, 'score', 'must be between 0 and 1'],
      [{ interaction_key: interactionKey, kind: 'score', score: -0.1 }, 'score', 'must be between 0 and 1'],
      [{ interaction_key: interactionKey, kind: 'score' }, 'score', /required when kind is "score"/],
      [{ interaction_key: interactionKey, kind: 'liked' }, 'kind', 'must be one of accepted, rejected, edited, score'],
      [{ kind: 'accepted' }, 'interaction_key', /required: the interaction's key/],
      [{ interaction_key: 7, kind: 'accepted' }, 'interaction_key', 'must be a string'],
      // Internal ids are not a way in: the API names interactions only by key.
      [{ interaction_id: 1, interaction_key: interactionKey, kind: 'accepted' }, '(body)', /interaction_id/],
      [{ interaction_key: interactionKey, kind: 'accepted', note: 'x' }, '(body)', /note/],
      [[{ interaction_key: interactionKey, kind: 'accepted' }], '(body)', /./],
    ];
    for (const [body, field, message] of cases) {
      const res = await post('/v1/feedback', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field, JSON.stringify(body)).toBe(field);
      expect(res.json().error.message).toMatch(message);
    }
    expect(await count('feedback', 'tenant-a')).toBe(before);

    const edited = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'edited', corrected_answer: 'It shipped on Monday.' });
    expect(edited.statusCode).toBe(201);
    const score = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'score', score: 1 });
    expect(score.statusCode).toBe(201);
    const rows = rowsOf<{ kind: string; corrected_answer: string | null; score: number | null; source: string }>(
      await db.execute(
        sql`select kind, corrected_answer, score, source from feedback where tenant_id = 'tenant-a' and idempotency_key in (${edited.json().key}, ${score.json().key}) order by id`,
      ),
    );
    expect(rows).toEqual([
      { kind: 'edited', corrected_answer: 'It shipped on Monday.', score: null, source: 'api' },
      { kind: 'score', corrected_answer: null, score: 1, source: 'api' },
    ]);
  });

  it('answers 404 for an unknown interaction and 409 for a reused feedback key', async () => {
    const missingKey = await post('/v1/feedback', { interaction_key: 'no-such-key', kind: 'accepted' });
    expect(missingKey.statusCode).toBe(404);
    expect(missingKey.json().error.field).toBe('interaction_key');

    const ok = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'rejected', idempotency_key: 'fb-1' });
    expect(ok.statusCode).toBe(201);
    const conflict = await post('/v1/feedback', { interaction_key: interactionKey, kind: 'accepted', idempotency_key: 'fb-1' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.field).toBe('idempotency_key');
  });

  it('concurrent identical keyed feedback is stored once', async () => {
    const before = await count('feedback', 'tenant-a');
    const results = await Promise.all(
      Array.from({ length: 8 }, () => post('/v1/feedback', { interaction_key: interactionKey, kind: 'score', score: 0.75, idempotency_key: 'fb-concurrent' })),
    );
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(await count('feedback', 'tenant-a')).toBe(before + 1);
  });

  it('batch: per-item results with prefixed fields; invalid items do not block valid ones', async () => {
    const before = await count('feedback', 'tenant-a');
    const res = await post('/v1/feedback', {
      feedback: [
        { interaction_key: interactionKey, kind: 'score', score: 0.25, idempotency_key: 'fb-batch' },
        { interaction_key: interactionKey, kind: 'score', score: 2 },
        { interaction_key: 'no-such-key', kind: 'accepted' },
        { interaction_key: interactionKey, kind: 'edited' },
        { interaction_key: interactionKey, kind: 'score', score: 0.25, idempotency_key: 'fb-batch' },
        { interaction_key: interactionKey, kind: 'accepted', idempotency_key: 'fb-1' },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['stored', 'invalid', 'not_found', 'invalid', 'duplicate', 'conflict']);
    expect(body.results.map((r: { index: number }) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(body.results[1].error).toEqual({ field: 'feedback[1].score', message: 'must be between 0 and 1' });
    expect(body.results[2].error.field).toBe('feedback[2].interaction_key');
    expect(body.results[3].error.field).toBe('feedback[3].corrected_answer');
    expect(body.results[4].key).toBe(body.results[0].key);
    expect(body.results[5].error.field).toBe('feedback[5].idempotency_key');
    expect({ stored: body.stored, duplicates: body.duplicates, rejected: body.rejected }).toEqual({ stored: 1, duplicates: 1, rejected: 4 });
    expect(await count('feedback', 'tenant-a')).toBe(before + 1);

    const tooMany = await post('/v1/feedback', {
      feedback: Array.from({ length: API.batchMaxItems + 1 }, () => ({ interaction_key: interactionKey, kind: 'accepted' })),
    });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().error.field).toBe('feedback');
    const extra = await post('/v1/feedback', { feedback: [], kind: 'accepted' });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.field).toBe('kind');
  });
});

describe('key scopes', () => {
  const get = (url: string, key: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

  it('an ingest key cannot review and a review key cannot ingest: 403 naming the missing scope', async () => {
    const list = await get('/v1/review/candidates', keyA);
    expect(list.statusCode).toBe(403);
    expect(list.json().error).toEqual({
      field: 'authorization',
      message: expect.stringMatching(
        /^this API key lacks the "review" scope \(it has ingest\); issue a key with it: distillery keys create .* --scopes review$/,
      ),
    });
    const decide = await post('/v1/review/candidates/g_000000000000/decision', { action: 'approve' }, keyA);
    expect(decide.statusCode).toBe(403);

    const before = await count('interactions', 'tenant-a');
    for (const [url, body] of [
      ['/v1/interactions', record()],
      ['/v1/interactions/batch', { interactions: [record()] }],
      ['/v1/feedback', { interaction_key: 'x', kind: 'accepted' }],
    ] as const) {
      const res = await post(url, body, reviewA);
      expect(res.statusCode, url).toBe(403);
      expect(res.json().error.message, url).toMatch(/lacks the "ingest" scope \(it has review\)/);
    }
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('an admin key may do everything; whoami tells any key its name and scopes', async () => {
    const admin = await createApiKey(db, 'tenant-a', { name: 'ops', scopes: ['admin'] });
    expect((await post('/v1/interactions', record(), admin)).statusCode).toBe(201);
    expect((await get('/v1/review/candidates', admin)).statusCode).toBe(200);
    expect((await get('/v1/whoami', keyA)).json()).toEqual({ tenant: 'tenant-a', name: 'app-a', scopes: ['ingest'] });
    expect((await get('/v1/whoami', reviewA)).json()).toEqual({ tenant: 'tenant-a', name: 'ada@example.com', scopes: ['review'] });
    expect((await get('/v1/whoami', 'dk_nope')).statusCode).toBe(401);
  });

  it('a revoked key is refused (401) once its cache entry is gone', async () => {
    const key = await createApiKey(db, 'tenant-a', { name: 'leaving', scopes: ['ingest'] });
    expect((await post('/v1/interactions', record(), key)).statusCode).toBe(201);
    const [k] = (await listApiKeys(db, 'tenant-a')).filter((x) => x.name === 'leaving');
    await revokeApiKey(db, 'tenant-a', k!.prefix);
    const fresh = await buildApi({ db, api: API, logLevel: 'silent' }); // a new process, or a minute later
    try {
      const res = await fresh.inject({
        method: 'POST',
        url: '/v1/interactions',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        payload: JSON.stringify(record()),
      });
      expect(res.statusCode).toBe(401);
    } finally {
      await fresh.close();
    }
  });
});

describe('feedback without an idempotency key', () => {
  it('is one event per post: accept, reject, accept leaves the interaction accepted', async () => {
    const id = await storeOne();
    for (const kind of ['accepted', 'rejected', 'accepted']) {
      const res = await post('/v1/feedback', { interaction_key: id, kind });
      expect(res.statusCode, kind).toBe(201);
    }
    // The acceptance readers use (src/graduation/load.ts, src/manifest/publish.ts): the latest feedback row.
    const latest = rowsOf<{ kind: string; n: string }>(
      await db.execute(
        sql`select kind, (select count(*)::text from feedback where interaction_id = ${rowOf(id)}) as n from feedback where interaction_id = ${rowOf(id)} order by created_at desc, id desc limit 1`,
      ),
    );
    expect(latest).toEqual([{ kind: 'accepted', n: '3' }]);
  });
});

describe('review routes without Temporal', () => {
  it('list and show need a key and see only the tenant; a decision answers 503 naming what to start', async () => {
    const list = await app.inject({ method: 'GET', url: '/v1/review/candidates', headers: { authorization: `Bearer ${reviewA}` } });
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({ candidates: [] });
    expect((await app.inject({ method: 'GET', url: '/v1/review/candidates' })).statusCode).toBe(401);
    const bad = await app.inject({ method: 'GET', url: '/v1/review/candidates?status=done', headers: { authorization: `Bearer ${reviewA}` } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('status');
    const missing = await app.inject({ method: 'GET', url: '/v1/review/candidates/g_000000000000', headers: { authorization: `Bearer ${reviewA}` } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.field).toBe('candidate');
    // An unknown candidate is a 404 and a bad decision a 400 whether or not Temporal is there.
    const unknown = await post('/v1/review/candidates/g_000000000000/decision', { action: 'approve' }, reviewA);
    expect(unknown.statusCode).toBe(404);
    const nul = await post('/v1/review/candidates/g_000000000000/decision', { action: 'reject', comment: 'bad\u0000' }, reviewA);
    expect([nul.statusCode, nul.json().error.field]).toEqual([400, 'comment']);
    await db.execute(
      sql`insert into runs (id, kind, tenant_id, workflow_id, status) values ('run-api-test', 'cluster', 'tenant-a', 'wf-api-test', 'completed') on conflict do nothing`,
    );
    await db.execute(sql`insert into candidates (id, tenant_id, cluster_run_id, cluster_ids, kind, status, traffic_share, label)
      values ('g_apitest', 'tenant-a', 'run-api-test', '["c1"]'::jsonb, 'constant', 'pending_review', 0.1, 'order status') on conflict do nothing`);
    const decide = await post('/v1/review/candidates/g_apitest/decision', { action: 'approve' }, reviewA);
    expect(decide.statusCode).toBe(503);
    expect(decide.headers['retry-after']).toBe('5');
    expect(decide.json()).toEqual({
      error: { field: '(service)', message: expect.stringContaining('the review service needs Temporal: start the api with a worker / distillery dev') },
    });
  });
});

describe('tenant isolation', () => {
  it("tenant B can neither see nor annotate tenant A's interactions", async () => {
    const rec = { ...record(), idempotency_key: 'shared-key', feedback: undefined };
    expect(await storeOne(keyA, rec)).toBe('shared-key');
    const fbA = await count('feedback', 'tenant-a');
    const fbB = await count('feedback', 'tenant-b');

    const byKey = await post('/v1/feedback', { interaction_key: 'shared-key', kind: 'rejected' }, keyB);
    expect(byKey.statusCode).toBe(404);
    expect(byKey.json()).toEqual({ error: { field: 'interaction_key', message: 'no interaction with this key for your tenant' } });
    const batch = await post('/v1/feedback', { feedback: [{ interaction_key: 'shared-key', kind: 'accepted' }] }, keyB);
    expect(batch.json().results[0].status).toBe('not_found');
    expect(await count('feedback', 'tenant-a')).toBe(fbA);
    expect(await count('feedback', 'tenant-b')).toBe(fbB);

    // The same key under B is B's own new record: nothing about A's row shows through (no duplicate/conflict).
    const sameForB = await post('/v1/interactions', rec, keyB);
    expect(sameForB.statusCode).toBe(201);
    expect(sameForB.json()).toEqual({ key: 'shared-key', status: 'stored' });
    const otherForB = await post('/v1/interactions', { ...rec, metadata: { different: true } }, keyB);
    expect(otherForB.statusCode).toBe(409); // conflicts with B's own row only
    const rows = rowsOf<{ tenant_id: string }>(await db.execute(sql`select tenant_id from interactions where idempotency_key = 'shared-key' order by id`));
    expect(rows).toEqual([{ tenant_id: 'tenant-a' }, { tenant_id: 'tenant-b' }]);

    // B's feedback on its own row works, and lands on B's row only.
    expect((await post('/v1/feedback', { interaction_key: 'shared-key', kind: 'accepted' }, keyB)).statusCode).toBe(201);
    expect(await count('feedback', 'tenant-b')).toBe(fbB + 1);
    expect(await count('feedback', 'tenant-a')).toBe(fbA);
  });
});

describe('bad input', () => {
  it('malformed JSON is a 400 on (body) with the parser message', async () => {
    const res = await post('/v1/interactions', '{"request": {"model": "gpt-4o",');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe('(body)');
    expect(res.json().error.message).toMatch(/^malformed JSON: .*JSON/);
  });

  it('invalid UTF-8 is refused, not silently replaced', async () => {
    const before = await count('interactions', 'tenant-a');
    const json = JSON.stringify(record({ question: 'where is my order XX' }));
    const [head, tail] = json.split('XX') as [string, string];
    const body = Buffer.concat([Buffer.from(head), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(tail)]);
    const res = await post('/v1/interactions', body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: { field: '(body)', message: 'body is not valid UTF-8' } });
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('empty body, missing body, wrong content type, prototype keys', async () => {
    const empty = await post('/v1/interactions', '');
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.field).toBe('(body)');

    const none = await app.inject({ method: 'POST', url: '/v1/interactions', headers: { authorization: `Bearer ${keyA}` } });
    expect(none.statusCode).toBe(400);
    expect(none.json().error.field).toBe('(body)');

    const text = await post('/v1/interactions', JSON.stringify(record()), keyA, { 'content-type': 'text/plain' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.field).toBe('content-type');
    expect(text.json().error.message).toContain('application/json');

    const form = await post('/v1/feedback', 'kind=accepted', keyA, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.statusCode).toBe(415);

    const proto = await post('/v1/interactions', '{"__proto__": {"polluted": true}, "request": {}}');
    expect(proto.statusCode).toBe(400);
    expect(proto.json().error.field).toBe('(body)');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a body over the limit is a 413 naming the limit and the batch endpoint', async () => {
    const before = await count('interactions', 'tenant-a');
    const big = record({ answer: 'x'.repeat(API.bodyLimitBytes) });
    const res = await post('/v1/interactions', big);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.field).toBe('(body)');
    expect(res.json().error.message).toContain(String(API.bodyLimitBytes));
    expect(res.json().error.message).toContain('/v1/interactions/batch');
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('over a real socket: 413 on a streamed oversized body, and 201 on a normal post', async () => {
    const live = await buildApi({ db, api: API, logLevel: 'silent' });
    try {
      await live.listen({ host: '127.0.0.1', port: 0 });
      const { port } = live.server.address() as AddressInfo;
      const url = `http://127.0.0.1:${port}/v1/interactions`;
      const headers = { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' };
      const ok = await fetch(url, { method: 'POST', headers, body: JSON.stringify(record()) });
      expect(ok.status).toBe(201);
      // Chunked, so the limit is found while reading rather than from Content-Length.
      const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(new TextEncoder().encode('{"metadata":{"pad":"'));
          if (sent > API.bodyLimitBytes * 2) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      });
      const big = await fetch(url, { method: 'POST', headers, body: stream, duplex: 'half' } as RequestInit);
      expect(big.status).toBe(413);
      expect(((await big.json()) as { error: { field: string } }).error.field).toBe('(body)');
    } finally {
      await live.close();
    }
  });

  it('an unexpected failure is a 500 without internals, and is logged', async () => {
    const boom = async () => {
      throw new TypeError('cannot read properties of undefined (reading "rows") at /srv/secret/path.js');
    };
    const failing = { transaction: boom, execute: boom } as unknown as Db;
    const lines: string[] = [];
    const broken = await buildApi({
      db: failing,
      api: API,
      logLevel: 'error',
      keyCache: new TenantKeyCache(async () => ({ tenantId: 'tenant-a', keyId: 1, name: 'app-a', scopes: ['ingest' as const] })),
      logStream: { write: (line) => lines.push(line) },
    });
    try {
      const res = await broken.inject({
        method: 'POST',
        url: '/v1/interactions',
        headers: { authorization: 'Bearer anything', 'content-type': 'application/json' },
        payload: JSON.stringify(record()),
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { field: '(server)', message: 'internal error' } });
      expect(res.body).not.toContain('ECONNREFUSED');
      const fb = await broken.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: { authorization: 'Bearer anything', 'content-type': 'application/json' },
        payload: JSON.stringify({ interaction_key: 'k', kind: 'accepted' }),
      });
      expect(fb.statusCode).toBe(500);
      expect(fb.json()).toEqual({ error: { field: '(server)', message: 'internal error' } });
    } finally {
      await broken.close();
    }
    expect(lines.join('')).toContain('reading \\"rows\\"');
  });
});

describe('strings Postgres cannot store and numbers its columns cannot hold', () => {
  // Each of these used to be a 500 (the INSERT failed); now a 400 naming the field, and nothing written.
  it('single records: 400 naming the JSON path, for content, metadata keys and values, keys and numbers', async () => {
    const before = await count('interactions', 'tenant-a');
    const cases: Array<[unknown, string, RegExp]> = [
      [record({ question: 'where is\u0000 my order' }), 'request.messages[1].content', /U\+0000/],
      [record({ answer: 'lone \ud800 surrogate' }), 'response.choices[0].message.content', /unpaired UTF-16 surrogate/],
      [record({ extra: { metadata: { 'k\u0000': 1 } } }), 'metadata', /has a key/],
      [record({ extra: { metadata: { a: { b: ['\udc00'] } } } }), 'metadata.a.b[0]', /surrogate/],
      [record({ extra: { idempotency_key: 'key\u0000' } }), 'idempotency_key', /U\+0000/],
      [record({ extra: { feedback: { kind: 'edited', corrected_answer: 'x\u0000' } } }), 'feedback.corrected_answer', /U\+0000/],
      [record({ extra: { latency_ms: 99_999_999_999 } }), 'latency_ms', /from 0 to 2147483647/],
      [record({ extra: { created_at: '9999-12-31T00:00:00Z' } }), 'created_at', /2000-2099/],
      [record({ extra: { created_at: 99_999_999_999_999 } }), 'created_at', /2000-2099/],
    ];
    for (const [body, field, message] of cases) {
      const res = await post('/v1/interactions', body);
      expect(res.statusCode, field).toBe(400);
      expect(res.json().error.field).toBe(field);
      expect(res.json().error.message).toMatch(message);
    }
    const tokens = record();
    (tokens.response.usage as Record<string, number>).prompt_tokens = 1e12;
    const res = await post('/v1/interactions', tokens);
    expect([res.statusCode, res.json().error.field]).toEqual([400, 'response.usage.prompt_tokens']);
    expect(await count('interactions', 'tenant-a')).toBe(before);
  });

  it('a batch stores its good items and names each bad one', async () => {
    const res = await post('/v1/interactions/batch', {
      interactions: [record(), record({ question: 'nul\u0000' }), record({ extra: { latency_ms: 2 ** 31 } }), record()],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.results.map((r: { status: string }) => r.status)).toEqual(['stored', 'invalid', 'invalid', 'stored']);
    expect(body.results[1].error.field).toBe('interactions[1].request.messages[1].content');
    expect(body.results[2].error.field).toBe('interactions[2].latency_ms');
  });

  it('feedback and decisions: 400 naming corrected_answer, interaction_key, reviewer', async () => {
    const id = await storeOne();
    const fb = await post('/v1/feedback', { interaction_key: id, kind: 'edited', corrected_answer: 'a\u0000' });
    expect([fb.statusCode, fb.json().error.field]).toEqual([400, 'corrected_answer']);
    const key = await post('/v1/feedback', { interaction_key: '\ud800', kind: 'accepted' });
    expect([key.statusCode, key.json().error.field]).toEqual([400, 'interaction_key']);
    const batch = await post('/v1/feedback', { feedback: [{ interaction_key: id, kind: 'accepted', idempotency_key: 'k\u0000' }] });
    expect(batch.json().results[0]).toMatchObject({ status: 'invalid', error: { field: 'feedback[0].idempotency_key' } });
    const decision = await post('/v1/review/candidates/g_x/decision', { action: 'approve', reviewer: 'a\u0000' }, reviewA);
    expect([decision.statusCode, decision.json().error.field]).toEqual([400, 'reviewer']);
  });
});

describe('database away, readiness and logs', () => {
  /** A real pool pointed at a port nothing listens on: every query fails as when Postgres is down. */
  function deadDatabase() {
    return openDatabase({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolMax: 1 });
  }

  it('answers 503 with Retry-After (not 500) on writes and on key lookups, and logs no payload', async () => {
    const dead = deadDatabase();
    const lines: string[] = [];
    const withCache = await buildApi({
      db: dead.db,
      api: API,
      logLevel: 'info',
      keyCache: new TenantKeyCache(async () => ({ tenantId: 'tenant-a', keyId: 1, name: 'app-a', scopes: ['ingest', 'review'] })),
      logStream: { write: (l) => lines.push(l) },
    });
    const noCache = await buildApi({ db: dead.db, api: API, logLevel: 'silent' });
    try {
      const marker = 'PAYLOAD-MARKER-'.repeat(50);
      const headers = { authorization: 'Bearer anything', 'content-type': 'application/json' };
      const batch = JSON.stringify({ interactions: [record({ question: marker }), record({ question: marker })] });
      const res = await withCache.inject({ method: 'POST', url: '/v1/interactions/batch', headers, payload: batch });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toEqual({ error: { field: '(service)', message: expect.stringMatching(/^database unreachable \(ECONNREFUSED\): retry in 5 s/) } });
      const fb = await withCache.inject({ method: 'POST', url: '/v1/feedback', headers, payload: JSON.stringify({ interaction_key: 'k1', kind: 'accepted' }) });
      expect(fb.statusCode).toBe(503);
      const auth = await noCache.inject({ method: 'GET', url: '/v1/review/candidates', headers: { authorization: 'Bearer dk_unknown' } });
      expect([auth.statusCode, auth.headers['retry-after']]).toEqual([503, '5']);
      // Liveness is not readiness: the process is up, the database is not.
      expect((await withCache.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      const ready = await withCache.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.headers['retry-after']).toBe('5');
      expect(ready.json()).toEqual({
        ok: false,
        checks: { database: 'down: database unreachable (ECONNREFUSED)' },
        error: { field: 'database', message: 'database down: database unreachable (ECONNREFUSED)' },
      });
    } finally {
      await withCache.close();
      await noCache.close();
      await dead.close();
    }
    const log = lines.join('');
    expect(log).not.toContain('PAYLOAD-MARKER');
    expect(log).not.toMatch(/insert into|jsonb_to_recordset/);
    const entry = JSON.parse(lines.find((l) => l.includes('/v1/interactions/batch'))!);
    expect(entry).toMatchObject({
      reqId: expect.any(String),
      tenant: 'tenant-a',
      route: '/v1/interactions/batch',
      bodyBytes: expect.any(Number),
      error: { code: 'ECONNREFUSED' },
    });
    expect(entry.bodyBytes).toBeGreaterThan(1500);
  });

  it('a database error in a route becomes a short reason, and the log keeps no SQL or parameters', async () => {
    const lines: string[] = [];
    const secret = 'USER-CONTENT-'.repeat(100);
    // What drizzle throws on a failed INSERT: the SQL and all its parameters in the message.
    const drizzleError = Object.assign(new Error(`Failed query: insert into interactions select * from x\nparams: ${secret}`), {
      name: 'DrizzleQueryError',
      cause: Object.assign(new Error('relation "interactions" does not exist'), { code: '42P01' }),
    });
    const failing = { execute: async () => Promise.reject(drizzleError), transaction: async () => Promise.reject(drizzleError) } as unknown as Db;
    const app2 = await buildApi({
      db: failing,
      api: API,
      logLevel: 'info',
      keyCache: new TenantKeyCache(async () => ({ tenantId: 'tenant-a', keyId: 1, name: 'app-a', scopes: ['ingest', 'review'] })),
      logStream: { write: (l) => lines.push(l) },
    });
    try {
      const res = await app2.inject({
        method: 'POST',
        url: '/v1/interactions',
        headers: { authorization: 'Bearer x', 'content-type': 'application/json' },
        payload: JSON.stringify(record()),
      });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toMatch(/insert|params|USER-CONTENT/);
    } finally {
      await app2.close();
    }
    const log = lines.join('');
    expect(log).not.toMatch(/USER-CONTENT|Failed query|insert into/);
    expect(log).toContain('relation \\"interactions\\" does not exist');
    expect(log).toContain('42P01');
  });

  it('/readyz: 200 when the database (and every further probe) answers, 503 naming the one down', async () => {
    const ok = await app.inject({ method: 'GET', url: '/readyz' });
    expect([ok.statusCode, ok.json()]).toEqual([200, { ok: true, checks: { database: 'ok' } }]);
    const probed = await buildApi({
      db,
      api: API,
      logLevel: 'silent',
      readiness: { blob: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8333'), { code: 'ECONNREFUSED' })) },
    });
    try {
      const res = await probed.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json().checks).toEqual({ database: 'ok', blob: expect.stringMatching(/^down: /) });
      expect(res.json().error.field).toBe('blob');
    } finally {
      await probed.close();
    }
  });

  it('a known path with another method is a 405 with Allow', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/v1/interactions' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(res.json().error.field).toBe('(method)');
    expect((await app.inject({ method: 'PUT', url: '/v1/review/candidates/g_1' })).headers.allow).toBe('GET, HEAD');
  });
});
