import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Ajv2020 from 'ajv/dist/2020';
import { and, eq } from 'drizzle-orm';
import OpenAI from 'openai';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuActivities } from '../../app/root';
import { buildApi } from '../../src/api/server';
import { loadConfig } from '../../src/config';
import { feedback, interactions, runs, tierEntries } from '../../src/db/schema';
import { Gateway } from '../../src/gateway/gateway';
import { liveCheck } from '../../src/gateway/live';
import { buildGatewayServer } from '../../src/gateway/server';
import { savingsReport } from '../../src/gateway/savings';
import { loadShadowStats } from '../../src/gateway/store';
import { Upstreams } from '../../src/gateway/upstream';
import { createApiKey } from '../../src/keys/store';
import { pointerKey } from '../../src/manifest/publish';
import { servedVersion } from '../../src/manifest/store';
import { HashingEmbedder } from '../../src/router/synthetic';
import type { ToolScript } from '../../src/serving/toolscript';
import { normalizeQuery } from '../../src/serving/normalize';
import { startPublish } from '../../src/temporal/starters';
import { createWorker } from '../../src/temporal/worker';
import { ensureTenant } from '../../src/tenants/store';
import { routeHistory } from '../../src/tiers/store';
import { spawnCli } from '../support/cli';
import { addRouteCluster } from '../support/clusters';
import { type FakeChat, startFakeChat } from '../support/fake-chat';
import { type Stack, connectStack } from '../support/stack';

/**
 * The gateway on the real stack (Postgres, SeaweedFS, Temporal with the real publisher workflow), called through the
 * real `openai` client. The manifest is published by the publisher from the tier table; the teacher (frontier) and
 * the adapter server are local fake OpenAI-compatible servers. The embedder is the deterministic hashing embedder
 * in both the publisher (the worker's activities) and the gateway.
 */
const tenant = 'gateway-it';
const embedder = new HashingEmbedder(64, 'test:hashing');
const clusterRun = 'cr_gateway_1';
const orderAnswer = (q: string) => `Order ${normalizeQuery(q).slots[0]!.value} ships tomorrow.`;
const lastUser = (b: { messages: Array<{ role: string; content: unknown }> }) =>
  String([...b.messages].reverse().find((m) => m.role === 'user')?.content ?? '');

/** A tool script: find the shipment of the query's order, ask the carrier, answer from both results. */
const trackScript: ToolScript = {
  kind: 'toolscript',
  steps: [{ tool: 'find_shipment', args: { order: { from: 'slot', slot: 'id' } } }],
  branches: [
    {
      when: [],
      steps: [{ tool: 'carrier_status', args: { tracking: { from: 'result', step: 0, path: ['tracking'] } } }],
      answer: 'Parcel {{step0.tracking}} is {{step1.state}}.',
      reads: [{ step: 1, path: ['state'], type: 'string' }],
    },
  ],
  reads: [{ step: 0, path: ['tracking'], type: 'string' }],
};
const trackTools = ['find_shipment', 'carrier_status'].map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object' } } }));

let s: Stack;
let worker: Awaited<ReturnType<typeof createWorker>>;
let frontier: FakeChat;
let adapter: FakeChat;
let gateway: Gateway;
let app: Awaited<ReturnType<typeof buildGatewayServer>>;
let client: OpenAI;
let baseURL: string;
let apiKey: string;
/** The teacher's answers to order queries drift from the template when set. */
let drift = false;

const addCluster = (id: string, query: string) =>
  addRouteCluster(s.db, {
    tenantId: tenant,
    id,
    query,
    centroid: embedder.vector(normalizeQuery(query).text),
    embeddingModel: embedder.id,
    runId: clusterRun,
    share: 0.3,
  });

const publish = async (runId: string) =>
  (await startPublish(s.client, s.taskQueue, { tenantId: tenant, mode: 'publish', runId, actor: 'test', replayShare: 0 })).result();

beforeAll(async () => {
  s = await connectStack();
  await ensureTenant(s.db, tenant);
  worker = await createWorker({
    temporal: s.temporal,
    taskQueue: s.taskQueue,
    activities: cpuActivities(
      { ...loadConfig({}), blob: s.blobConfig, ingest: { allowedSources: s.allowedSources } },
      { db: s.db, blob: s.blob, embedder: async () => embedder },
    ),
    workflowBundlePath: s.stack.workflowBundlePath,
  });
  void worker.run();
  await s.db.insert(runs).values({ id: clusterRun, kind: 'cluster', tenantId: tenant, workflowId: 'wf-gateway-it', status: 'completed' });

  await addCluster('c_order', 'where is my order 4242');
  await addCluster('c_cancel', 'how do i cancel my subscription plan');
  await addCluster('c_refund', 'can i get a refund for a damaged blender');
  await addCluster('c_track', 'track the parcel shipment 4242 with the courier');
  await s.db.insert(tierEntries).values([
    {
      tenantId: tenant,
      routeId: 'c_order',
      tier: 'template',
      target: { candidateId: 'g_order', version: 1, kind: 'template', template: 'Order {{id}} ships tomorrow.', script: null },
      evidence: { precision: 1, reviewer: 'ana' },
      status: 'active',
    },
    {
      tenantId: tenant,
      routeId: 'c_cancel',
      tier: 'adapter',
      target: { name: 'ft-cancel', baseModel: 'smollm2-135m', uri: 's3://bucket/adapters/ft-cancel/' },
      evidence: { gate: 'passed' },
      status: 'active',
    },
  ]);
  await s.db.insert(tierEntries).values({
    tenantId: tenant,
    routeId: 'c_track',
    tier: 'template',
    target: { candidateId: 'g_track', version: 1, kind: 'toolscript', script: trackScript },
    evidence: { precision: 1, reviewer: 'ana' },
    status: 'active',
  });
  expect(await publish('gateway-it-1')).toMatchObject({ status: 'published', version: 1 });
  // The pointer the publisher wrote validates against its published schema.
  const pointerSchema = JSON.parse(readFileSync(new URL('../../src/serving/pointer.schema.json', import.meta.url), 'utf8')) as object;
  const validPointer = new Ajv2020({ strict: true }).compile(pointerSchema);
  expect(validPointer(JSON.parse((await s.blob.get(pointerKey(tenant))).toString('utf8'))), JSON.stringify(validPointer.errors)).toBe(true);

  frontier = await startFakeChat('frontier');
  adapter = await startFakeChat('adapter');
  frontier.answer = (b) => {
    const q = lastUser(b);
    if (/order/i.test(q)) return drift ? `Order ${normalizeQuery(q).slots[0]!.value} was cancelled.` : orderAnswer(q);
    if (/cancel/i.test(q)) return 'Open Settings, then Plans, then Cancel.';
    return `The teacher says: ${q}`;
  };
  adapter.answer = (b) => (/cancel/i.test(lastUser(b)) ? 'Open Settings, then Plans, then Cancel.' : 'adapter: ?');

  apiKey = await createApiKey(s.db, tenant, { name: 'app', scopes: ['ingest'] });
  gateway = new Gateway({
    db: s.db,
    embedder,
    upstreams: new Upstreams({ frontier: { baseURL: frontier.baseURL }, adapter: { baseURL: adapter.baseURL }, timeoutMs: 10_000, retries: 0 }),
    manifestSource: (t) => `blob:${pointerKey(t)}`,
    load: { blobStore: s.blob },
    refreshMs: 0,
    shadowRate: 1,
    ramp: { shares: [1], judgedPerStep: 0 },
    allowSystem: true,
    publish: (t, runId) => publish(runId),
  });
  app = await buildGatewayServer({ gateway, api: loadConfig({}).api, limits: { requestsPerMinute: 0, tokensPerDay: 0 }, logLevel: 'silent' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseURL = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1`;
  client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await gateway?.close();
  await frontier?.close();
  await adapter?.close();
  await worker?.shutdown();
  await s?.close();
});

/** The text of a streamed answer, through the openai client. */
async function streamText(content: string): Promise<string> {
  const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content }], stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  return text;
}

const ask = (content: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) =>
  client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content }], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming, { headers })
    .withResponse();

describe('gateway on the real stack', () => {
  it('a graduated query gets the template with zero usage, streamed or not; the teacher header and tools go to the frontier', async () => {
    const { data, response } = await ask('Where is my order 5150?');
    expect(data.choices[0]!.message.content).toBe('Order 5150 ships tomorrow.');
    expect(data.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    expect(response.headers.get('x-distillery-tier')).toBe('template');
    expect(response.headers.get('x-distillery-route')).toBe('c_order');
    expect(response.headers.get('x-distillery-manifest-version')).toBe('1');

    expect(await streamText('where is my order 7781')).toBe('Order 7781 ships tomorrow.');

    const before = frontier.requests.length;
    const forced = await ask('Where is my order 5150?', {}, { 'x-distillery-teacher': 'true' });
    expect(forced.response.headers.get('x-distillery-tier')).toBe('frontier');
    const tools = await ask('Where is my order 5150?', { tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }] });
    expect(tools.response.headers.get('x-distillery-tier')).toBe('frontier');
    expect(tools.response.headers.get('x-distillery-reason')).toContain('tools');
    await gateway.settle();
    // forced + tools, plus the shadow checks of the two template answers
    expect(frontier.requests.length - before).toBeGreaterThanOrEqual(2);
  });

  it('a tool-script route plays the agent loop: each turn gets the script’s next tool call (zero usage), then its answer', async () => {
    type Msg = OpenAI.ChatCompletionMessageParam;
    const turn = (messages: Msg[], stream = false) =>
      client.chat.completions
        .create({ model: 'gpt-4o', messages, tools: trackTools, ...(stream ? { stream: true } : {}) } as OpenAI.ChatCompletionCreateParamsNonStreaming)
        .withResponse();
    const messages: Msg[] = [{ role: 'user', content: 'Track the parcel shipment 5150 with the courier' }];
    const first = await turn(messages);
    expect(first.response.headers.get('x-distillery-tier')).toBe('template');
    expect(first.response.headers.get('x-distillery-route')).toBe('c_track');
    expect(first.data.choices[0]!.finish_reason).toBe('tool_calls');
    expect(first.data.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    const call1 = first.data.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect([call1.function.name, JSON.parse(call1.function.arguments)]).toEqual(['find_shipment', { order: '5150' }]);
    messages.push(first.data.choices[0]!.message as Msg, { role: 'tool', tool_call_id: call1.id, content: JSON.stringify({ tracking: 'TRK9' }) });

    // The second call, streamed: the openai client assembles the tool call from the deltas.
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, tools: trackTools, stream: true });
    const deltas: Array<{ name?: string; arguments?: string; id?: string }> = [];
    let finish: string | null | undefined;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta?.tool_calls ?? []) deltas.push({ name: t.function?.name, arguments: t.function?.arguments, id: t.id });
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(deltas).toHaveLength(1);
    expect([deltas[0]!.name, JSON.parse(deltas[0]!.arguments!)]).toEqual(['carrier_status', { tracking: 'TRK9' }]);
    messages.push(
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: deltas[0]!.id!, type: 'function', function: { name: deltas[0]!.name!, arguments: deltas[0]!.arguments! } }],
      },
      { role: 'tool', tool_call_id: deltas[0]!.id!, content: JSON.stringify({ state: 'in transit' }) },
    );

    const before = frontier.requests.length;
    const last = await turn(messages);
    expect(last.data.choices[0]!.message.content).toBe('Parcel TRK9 is in transit.');
    expect(last.response.headers.get('x-distillery-script')).toBe('answer');
    expect(frontier.requests.length).toBe(before);

    // A result the traces never showed (a number where they showed text) hands the loop to the frontier.
    const odd = await turn([...messages.slice(0, 3), messages[3]!, { role: 'tool', tool_call_id: deltas[0]!.id!, content: JSON.stringify({ state: 7 }) }]);
    expect(odd.response.headers.get('x-distillery-tier')).toBe('frontier');
    expect(odd.response.headers.get('x-distillery-reason')).toContain('state');
    // A conversation whose earlier call is not the script's, or a request without the tools: the frontier.
    const steered = await turn([
      messages[0]!,
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'find_shipment', arguments: '{"order":"1"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '{"tracking":"X"}' },
    ]);
    expect(steered.response.headers.get('x-distillery-reason')).toContain('left the script');
    const plain = await ask('Track the parcel shipment 5150 with the courier');
    expect(plain.response.headers.get('x-distillery-tier')).toBe('frontier');
    expect(plain.response.headers.get('x-distillery-reason')).toContain('offer its tools');
  });

  it('an adapter route gets the adapter server’s answer, with model = the adapter', async () => {
    const { data, response } = await ask('How do I cancel my subscription plan?');
    expect(response.headers.get('x-distillery-tier')).toBe('adapter');
    expect(data.choices[0]!.message.content).toBe('Open Settings, then Plans, then Cancel.');
    expect(adapter.requests.at(-1)!.model).toBe('ft-cancel');
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('ft-cancel');
  });

  it('an adapter server that fails hands the request to the next tier up (here the frontier), streamed or not', async () => {
    adapter.failWith = 503;
    try {
      const { data, response } = await ask('How do I cancel my subscription plan?');
      expect(response.headers.get('x-distillery-tier')).toBe('frontier');
      expect(response.headers.get('x-distillery-fallback-from')).toBe('adapter');
      expect(data.choices[0]!.message.content).toBe('Open Settings, then Plans, then Cancel.');
      expect(await streamText('how do i cancel my subscription plan')).toBe('Open Settings, then Plans, then Cancel.');
    } finally {
      adapter.failWith = null;
    }
  });

  it('another query goes to the frontier, is logged as an interaction, and feedback through the gateway sets its acceptance', async () => {
    const { data, response } = await ask('Can I get a refund for a damaged blender?');
    expect(response.headers.get('x-distillery-tier')).toBe('frontier');
    expect(data.choices[0]!.message.content).toBe('The teacher says: Can I get a refund for a damaged blender?');
    const key = response.headers.get('x-distillery-interaction-key')!;
    expect(key).toBe(`response:${data.id}`);
    const fb = await fetch(`${baseURL}/feedback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ interaction_key: key, kind: 'accepted' }),
    });
    expect(fb.status).toBe(201);
    const [row] = await s.db
      .select()
      .from(interactions)
      .where(and(eq(interactions.tenantId, tenant), eq(interactions.idempotencyKey, key)));
    expect(row).toMatchObject({ source: 'gateway', queryText: 'Can I get a refund for a damaged blender?', teacherModel: 'gpt-4o' });
    const fbs = await s.db.select().from(feedback).where(eq(feedback.interactionId, row!.id));
    expect(fbs.map((f) => f.kind)).toEqual(['accepted']);

    // The same answer logged again (a retried log) is one interaction: idempotent on the response id.
    await gateway
      .logInteraction(
        tenant,
        { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] },
        { id: data.id, choices: [{ message: { role: 'assistant', content: 'y' } }] },
        key,
        {},
        1,
      )
      .catch(() => undefined);
    expect(await s.db.select().from(interactions).where(eq(interactions.idempotencyKey, key))).toHaveLength(1);

    expect(await streamText('can i get a refund for a damaged blender')).toBe('The teacher says: can i get a refund for a damaged blender');
    await gateway.settle();
    await gateway.flush();
    const savings = await savingsReport(s.db, tenant, new Date(Date.now() - 3_600_000 * 2), new Date(Date.now() + 3_600_000));
    expect(savings.totals.byTier.template).toBeGreaterThanOrEqual(2);
    expect(savings.totals.avoidedUsd).toBeGreaterThan(0);
    const metrics = await (await fetch(baseURL.replace(/\/v1$/, '/metrics'))).text();
    expect(metrics).toMatch(/distillery_gateway_requests_total\{tenant="gateway-it",tier="template",status="200"\} [1-9]/);
  });

  it('a ramping entry serves its share of the route (by request id) and shadows every request it serves', async () => {
    const ramping = new Gateway({ ...gateway.opts, ramp: { shares: [0.5, 1], judgedPerStep: 1000 }, shadowRate: 0, publish: undefined });
    try {
      const ds = await Promise.all(
        Array.from({ length: 200 }, (_, i) => ramping.decide(tenant, `req-${i}`, 'How do I cancel my subscription plan?', '', false)),
      );
      const served = ds.filter((d) => d.tier === 'adapter');
      expect(served.length).toBeGreaterThan(70);
      expect(served.length).toBeLessThan(130);
      expect(served.every((d) => d.shadow)).toBe(true);
      expect(ds.filter((d) => d.tier === 'frontier').every((d) => d.reason.startsWith('ramp: the adapter tier serves 50%'))).toBe(true);
      // The same request id always falls on the same side.
      expect((await ramping.decide(tenant, 'req-7', 'How do I cancel my subscription plan?', '', false)).tier).toBe(ds[7]!.tier);
    } finally {
      await ramping.close();
    }
  });

  it('the review page shows the savings (GET /v1/savings with a review key)', async () => {
    await gateway.settle();
    await gateway.flush();
    const api = await buildApi({ db: s.db, api: loadConfig({}).api, logLevel: 'silent' });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    try {
      const apiUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
      const reviewKey = await createApiKey(s.db, tenant, { name: 'Ada', scopes: ['review'] });
      const body = (await (await fetch(`${apiUrl}/v1/savings`, { headers: { authorization: `Bearer ${reviewKey}` } })).json()) as Awaited<
        ReturnType<typeof savingsReport>
      >;
      expect(body.rows).toEqual(expect.arrayContaining([expect.objectContaining({ routeId: 'c_order', tier: 'template' })]));
      expect(body.totals.avoidedUsd).toBeGreaterThan(0);
      expect((await fetch(`${apiUrl}/v1/savings?from=yesterday`, { headers: { authorization: `Bearer ${reviewKey}` } })).status).toBe(400);
      expect((await fetch(`${apiUrl}/v1/savings`, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(403);

      const page = await browser.newPage();
      await page.goto(`${apiUrl}/review`);
      await page.locator('#api-key').fill(reviewKey);
      await page.locator('#auth-submit').click();
      await expect.poll(() => page.locator('[data-testid="savings-row"]').count(), { timeout: 15_000 }).toBeGreaterThan(0);
      expect(await page.locator('[data-testid="savings-summary"]').textContent()).toMatch(
        /requests served: cost \$[\d.]+ against \$[\d.]+ all-frontier, \$[\d.]+ avoided/,
      );
      expect(await page.locator('[data-testid="savings-row"]').allTextContents()).toEqual(
        expect.arrayContaining([expect.stringMatching(/^c_ordertemplate\d+/)]),
      );
    } finally {
      await browser.close();
      await api.close();
    }
  });

  it('the teacher drifts on a graduated route: shadow checks catch it within the bound, the route is demoted, a publish follows, the frontier serves it', async () => {
    await gateway.settle();
    const agreed = (await loadShadowStats(s.db, tenant)).find((r) => r.routeId === 'c_order')!;
    expect(agreed).toMatchObject({ errors: 0 });
    expect(agreed.judged).toBeGreaterThanOrEqual(2);

    drift = true;
    // The fewest disagreements after these agreements that refute the budget: the bound the shadow sample must meet.
    let needed = 1;
    while (!liveCheck({ judged: agreed.judged + needed, errors: needed }).demote) needed++;
    let served = 0;
    for (let i = 0; i < needed; i++) {
      const { response } = await ask(`Where is my order ${9000 + i}?`);
      expect(response.headers.get('x-distillery-tier')).toBe('template');
      served++;
      await gateway.settle();
    }
    expect(served).toBe(needed);

    const history = await routeHistory(s.db, tenant, 'c_order');
    expect(history[0]).toMatchObject({ tier: 'frontier', status: 'active' });
    expect(String(history[0]!.evidence.reason)).toMatch(/shadow checks: \d+ of \d+ answers disagreed/);
    expect(history[0]!.evidence.examples).toEqual(expect.arrayContaining([expect.objectContaining({ teacher: 'Order 9000 was cancelled.' })]));
    expect(history[1]).toMatchObject({ tier: 'template', status: 'superseded' });
    expect(await servedVersion(s.db, tenant)).toBe(2);
    // `distillery tiers history` shows the demotion and its reason.
    const cli = spawnCli(['tiers', 'history', 'c_order', '--tenant', tenant], s.env);
    expect(await cli.exited).toBe(0);
    expect(cli.output()).toMatch(/active\s+frontier[^\n]*\n\s+reason: shadow checks: \d+ of \d+ answers disagreed with the teacher/);
    expect(cli.output()).toMatch(/superseded\s+template/);

    const { data, response } = await ask('Where is my order 4242?');
    expect(response.headers.get('x-distillery-tier')).toBe('frontier');
    expect(response.headers.get('x-distillery-route')).toBe('c_order');
    expect(response.headers.get('x-distillery-manifest-version')).toBe('2');
    expect(data.choices[0]!.message.content).toBe('Order 4242 was cancelled.');
    const metrics = await (await fetch(baseURL.replace(/\/v1$/, '/metrics'))).text();
    expect(metrics).toContain('distillery_gateway_demotions_total{tenant="gateway-it",route="c_order"} 1');
  });
});
