import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Router } from '../../src/router';
import { HashingEmbedder, syntheticManifest } from '../../src/router/synthetic';
import { manifestProblems } from '../../src/serving/manifest-validate';
import { normalizeQuery } from '../../src/serving/normalize';
import { InputError } from '../../src/errors';
import { normalizeRecord } from '../../src/interactions/record';
import { slotsOfQuery } from '../../src/serving/slots';
import { type ToolScript, runToolScript } from '../../src/serving/toolscript';
import { answerTemplate, induceBinding, induceScript, shapeOf } from '../../src/toolscripts/induce';
import { ORDER_TOOLS, order, stubTools, teacherLoop } from '../../src/toolscripts/stub-world';
import { type ToolTrace, parseTrace, toolLoopMessages } from '../../src/toolscripts/trace';
import { mineToolScripts, replayTrace, verifyToolScript } from '../../src/toolscripts/verify';
import { demoteToolClusters } from '../../src/toolscripts/graduate';

const PHRASES = ['where is my order {id}?', 'track order {id}', 'status of order {id} please', 'can you check order {id} for me'];
const CANCEL = ['cancel order {id}', 'please cancel my order {id}', 'I want to cancel order {id}'];

/** A tool-loop record as the openai client's messages give it (request/response shape). */
function record(query: string, loop: ReturnType<typeof teacherLoop>, key: string) {
  const { messages, answer } = toolLoopMessages(query, loop.calls, loop.answer, 'You are a support agent.');
  return { idempotency_key: key, request: { model: 'gpt-4o', messages, tools: ORDER_TOOLS }, response: { choices: [{ index: 0, message: answer }] } };
}

function traces(intent: 'track' | 'cancel', n: number, seed = 0): ToolTrace[] {
  return Array.from({ length: n }, (_, i) => {
    const id = String(100000 + seed * 1000 + i * 37);
    const q = (intent === 'track' ? PHRASES : CANCEL)[i % (intent === 'track' ? PHRASES.length : CANCEL.length)]!.replace('{id}', id);
    const row = normalizeRecord(record(q, teacherLoop(intent, id), `${intent}-${seed}-${i}`));
    return parseTrace({
      id: `${intent}-${seed}-${i}`,
      queryText: row.queryText,
      messages: row.messages,
      requestParams: row.requestParams,
      response: row.response,
    })!;
  });
}

function inputError(input: unknown): InputError {
  try {
    normalizeRecord(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('accepted');
}

describe('tool-loop records and trace parsing', () => {
  it('stores a tool loop with its tool schemas and reads it back as a trace', () => {
    const loop = teacherLoop('track', '4521');
    const row = normalizeRecord(record('where is my order 4521?', loop, 'k1'));
    expect(row.requestParams.tools).toEqual(ORDER_TOOLS);
    expect(row.answerText).toBe(loop.answer);
    const t = parseTrace({ id: '1', queryText: row.queryText, messages: row.messages, requestParams: row.requestParams, response: row.response })!;
    expect(t.calls.map((c) => c.tool)).toEqual(loop.calls.map((c) => c.tool));
    expect(t.calls[0]).toEqual({ tool: 'lookup_order', args: { order_id: '4521' }, result: order('4521') });
    expect(t.offered).toEqual(['lookup_order', 'get_shipment', 'cancel_order']);
  });

  it('accepts the chat-log shape with tools beside the messages', () => {
    const { messages, answer } = toolLoopMessages('track order 77', teacherLoop('track', '77').calls, 'ok');
    const row = normalizeRecord({ model: 'gpt-4o', idempotency_key: 'c1', tools: ORDER_TOOLS, messages: [...messages, answer] });
    expect(row.requestParams).toEqual({ tools: ORDER_TOOLS });
    expect(
      parseTrace({ id: 'c1', queryText: row.queryText, messages: row.messages, requestParams: row.requestParams, response: row.response })?.calls,
    ).toHaveLength(teacherLoop('track', '77').calls.length);
  });

  it('an intermediate turn (the answer is a tool call) or a loop without tools is no trace', () => {
    const base = { id: 'x', queryText: 'q', requestParams: {}, messages: [{ role: 'user', content: 'q' }] };
    expect(parseTrace({ ...base, response: { choices: [{ message: { role: 'assistant', content: null, tool_calls: [] } }] } })).toBeNull();
    expect(parseTrace({ ...base, response: { choices: [{ message: { role: 'assistant', content: 'hi' } }] } })).toBeNull();
  });

  it('refuses malformed loops naming the field', () => {
    const good = record('track order 5', teacherLoop('track', '5'), 'k');
    const msgs = good.request.messages as Array<Record<string, unknown>>;
    const withArgs = structuredClone(good);
    (withArgs.request.messages[2] as { tool_calls: Array<{ function: { arguments: string } }> }).tool_calls[0]!.function.arguments = '{oops';
    expect(inputError(withArgs)).toMatchObject({ field: 'request.messages[2].tool_calls[0].function.arguments' });
    const orphan = structuredClone(good);
    (orphan.request.messages[3] as { tool_call_id: string }).tool_call_id = 'nope';
    expect(inputError(orphan)).toMatchObject({ field: 'request.messages[3].tool_call_id' });
    const badTools = { ...good, request: { ...good.request, tools: [{ type: 'function', function: {} }] } };
    expect(inputError(badTools)).toMatchObject({ field: 'request.tools[0].function.name' });
    expect(msgs[2]!.role).toBe('assistant');
  });
});

describe('shape clustering and binding induction', () => {
  const track = traces('track', 40);

  it('shapes say which tools and where each argument comes from', () => {
    const shipped = track.filter((t) => t.calls.length === 2);
    const processing = track.filter((t) => t.calls.length === 1);
    expect(new Set(shipped.map(shapeOf))).toEqual(new Set(['lookup_order(order_id=slot:id) > get_shipment(tracking_number=result:0.tracking_number)']));
    expect(new Set(processing.map(shapeOf))).toEqual(new Set(['lookup_order(order_id=slot:id)']));
  });

  it('binds from the query, from earlier results, from constants and from learnt words', () => {
    const shipped = track.filter((t) => t.calls.length === 2);
    const slotsOf = (t: ToolTrace) => slotsOfQuery(t.query);
    expect(
      induceBinding(
        shipped.map((t) => t.calls[0]!.args.order_id),
        shipped,
        0,
        slotsOf,
      ),
    ).toEqual({ from: 'slot', slot: 'id' });
    expect(
      induceBinding(
        shipped.map((t) => t.calls[1]!.args.tracking_number),
        shipped,
        1,
        slotsOf,
      ),
    ).toEqual({
      from: 'result',
      step: 0,
      path: ['tracking_number'],
    });
    const cancel = traces('cancel', 6);
    expect(
      induceBinding(
        cancel.map((t) => t.calls[1]!.args.reason),
        cancel,
        1,
        slotsOf,
      ),
    ).toEqual({ from: 'const', value: 'customer request' });
    const city = [
      { q: 'weather in paris today', v: 'Paris' },
      { q: 'weather in Rome today', v: 'Rome' },
    ].map((x, i) => ({ id: String(i), query: x.q, calls: [{ tool: 'w', args: { city: x.v }, result: {} }], answer: '', offered: [] }));
    expect(
      induceBinding(
        city.map((t) => t.calls[0]!.args.city),
        city,
        0,
        () => ({}),
      ),
    ).toEqual({ from: 'word', vocabulary: { paris: 'Paris', rome: 'Rome' } });
    // A value from nowhere cannot be bound.
    expect(induceBinding(['a1', 'b2'], city, 0, () => ({}))).toMatch(/comes from no slot/);
  });

  it('answers become templates over slots and results', () => {
    const t = track.find((x) => x.calls.length === 2)!;
    expect(answerTemplate(t, slotsOfQuery(t.query))).toBe('Your order {{id}} has {{step0.status}} with {{step1.carrier}} and should arrive on {{step1.eta}}.');
  });
});

describe('branching script induction, replay verification and the interpreter', () => {
  const train = traces('track', 60, 1);
  const held = traces('track', 30, 2);
  const induced = induceScript(train);
  const script = induced.script!;

  it('induces one branch per result status, with the shipment step only where the traces made it', () => {
    expect(script.steps).toEqual([{ tool: 'lookup_order', args: { order_id: { from: 'slot', slot: 'id' } } }]);
    expect(script.branches).toHaveLength(3);
    const byStatus = Object.fromEntries(script.branches.map((b) => [String(b.when[0]!.in[0]), b]));
    expect(Object.keys(byStatus).sort()).toEqual(['delivered', 'processing', 'shipped']);
    expect(byStatus.shipped!.steps).toEqual([{ tool: 'get_shipment', args: { tracking_number: { from: 'result', step: 0, path: ['tracking_number'] } } }]);
    expect(byStatus.processing!.steps).toEqual([]);
    expect(byStatus.delivered!.answer).toBe('Good news: your order {{id}} was {{step0.status}}. Tracking number {{step0.tracking_number}}.');
  });

  it('passes replay on held-out traces: the teacher calls exactly, the teacher answer', async () => {
    // Queries the router would also send here that needed no tool: the script must not answer them.
    const noTool = ['what are your opening hours?', 'thanks, bye', 'where is my order?'].map((q, i) => ({
      id: `n${i}`,
      query: q,
      calls: [],
      answer: 'x',
      offered: [],
    }));
    const ev = await verifyToolScript(script, held, noTool);
    expect(ev).toMatchObject({ heldOut: 30, served: 30, correct: 30, precision: 1, coverage: 1, callAgreement: 1, passed: true });
    expect(ev.foreign).toEqual({ tested: 3, answered: 0 });
    // One that carries an order number would make the script call the application's tool: captured, no pass.
    const textual = { id: 'n9', query: 'how do I change the address of order 123456?', calls: [], answer: 'Go to Orders.', offered: [] };
    const captured = await verifyToolScript(script, held, [...noTool, textual]);
    expect(captured.foreign).toEqual({ tested: 4, answered: 1 });
    expect(captured.passed).toBe(false);
    const r = await replayTrace(script, held[0]!);
    expect(r.script.calls).toEqual(r.teacher.calls);
    expect(r.script.answer).toBe(r.teacher.answer);
  });

  it('fails an edited script whose calls differ from the teacher (a wrong constant) or that answers another intent', async () => {
    const wrong: ToolScript = structuredClone(script);
    wrong.steps[0]!.args.order_id = { from: 'const', value: '1' };
    const ev = await verifyToolScript(wrong, held, []);
    expect(ev.passed).toBe(false);
    expect(ev.callAgreement).toBeLessThan(1);
    // Neighbours' queries the router would send here (cancel requests look up the order too): captured, so no pass.
    const cross = await verifyToolScript(script, held, traces('cancel', 10, 4));
    expect(cross.foreign.answered).toBeGreaterThan(0);
    expect(cross.passed).toBe(false);
  });

  it('runs against registered tools; a result outside the traces (unseen status, missing field) goes to the frontier', async () => {
    const q = 'where is my order 555123?';
    const run = await runToolScript(script, { query: q, slots: slotsOfQuery(q) }, stubTools());
    expect(run).toMatchObject({ status: 'answered', answer: teacherLoop('track', '555123').answer });
    const returned = await runToolScript(
      script,
      { query: q, slots: slotsOfQuery(q) },
      { ...stubTools(), lookup_order: () => ({ ...order('555123'), status: 'returned' }) },
    );
    expect(returned).toMatchObject({ status: 'frontier', reason: expect.stringMatching(/never showed|no branch/) });
    const partial = await runToolScript(
      script,
      { query: q, slots: slotsOfQuery(q) },
      { ...stubTools(), lookup_order: () => ({ order_id: '555123', status: 'shipped' }) },
    );
    expect(partial).toMatchObject({ status: 'frontier', reason: expect.stringMatching(/no tracking_number/) });
    expect(await runToolScript(script, { query: q, slots: slotsOfQuery(q) }, {})).toMatchObject({
      status: 'frontier',
      reason: 'no tool "lookup_order" registered',
    });
    const slow = await runToolScript(
      script,
      { query: q, slots: slotsOfQuery(q) },
      { ...stubTools(), lookup_order: () => new Promise(() => {}) },
      { toolTimeoutMs: 20 },
    );
    expect(slow).toMatchObject({ status: 'frontier', reason: expect.stringMatching(/no answer from lookup_order within 20 ms/) });
    const noId = await runToolScript(script, { query: 'where is my order?', slots: {} }, stubTools());
    expect(noId).toMatchObject({ status: 'frontier', reason: 'the query has no id slot', calls: [] });
  });

  it('mines clusters: a candidate per repeated task, verified against the other clusters', async () => {
    const { candidates, skipped } = await mineToolScripts([
      { clusterId: 'track', traces: [...train, ...held] },
      { clusterId: 'cancel', traces: traces('cancel', 80, 5) },
      { clusterId: 'tiny', traces: traces('cancel', 3, 6) },
    ]);
    expect(candidates.map((c) => [c.clusterIds[0], c.evidence.passed, c.evidence.reasons.join('; ')])).toEqual([
      ['track', true, ''],
      ['cancel', true, ''],
    ]);
    expect(skipped).toEqual([{ clusterId: 'tiny', reasons: ['3 traces < 10'] }]);
  });
});

describe('the manifest route and the router client', () => {
  const script = induceScript(traces('track', 60, 7)).script!;
  const embedder = new HashingEmbedder(32);
  const q = 'where is my order 8675309?';
  const manifest = () =>
    syntheticManifest({
      dims: 32,
      routes: [
        { id: 'c_track', tier: 'template', centroid: embedder.vector(normalizeQuery(q).text), target: { toolScript: script, candidateId: 'g_1', version: 1 } },
      ],
    });

  it('a tool-script target is valid in the manifest schema; a broken recipe is named by path', () => {
    expect(manifestProblems(manifest())).toEqual([]);
    const bad = structuredClone(manifest()) as unknown as { routes: Array<{ target: { toolScript: { steps: Array<{ args: Record<string, unknown> }> } } }> };
    bad.routes[0]!.target.toolScript.steps[0]!.args.order_id = { from: 'nowhere' };
    expect(manifestProblems(bad).join('\n')).toMatch(/routes\[0\]\.target\.toolScript\.steps\[0\]\.args\.order_id/);
  });

  it('Router.run executes the route against the registered tools, and hands over when it cannot finish', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'toolscript-router-'));
    const file = path.join(dir, 'm.json');
    writeFileSync(file, JSON.stringify(manifest()));
    try {
      const router = await Router.create({ source: file, embedder, tools: stubTools() });
      expect(await router.resolve(q)).toMatchObject({ tier: 'template', routeId: 'c_track', toolScript: { candidateId: 'g_1' } });
      const r = await router.run(q);
      expect(r).toMatchObject({ tier: 'template', routeId: 'c_track', answer: teacherLoop('track', '8675309').answer });
      expect(r.toolCalls!.map((c) => c.tool)).toEqual(teacherLoop('track', '8675309').calls.map((c) => c.tool));
      const off = await router.run(q, { tools: { lookup_order: () => 'not json {' } });
      expect(off).toMatchObject({ tier: 'frontier', routeId: null, model: 'gpt-4o', reason: expect.stringMatching(/^tool script handed over: /) });
      router.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('text graduation beside tool scripts', () => {
  it('a text template for a cluster of tool loops does not go to review', () => {
    const cand = (id: string) => ({ clusterIds: [id], evidence: { passed: true, reasons: [] as string[] } }) as never;
    const out = demoteToolClusters({ passed: [cand('c_tools'), cand('c_text')], failed: [], clusters: [] }, new Set(['c_tools']));
    expect(out.passed.map((c) => c.clusterIds[0])).toEqual(['c_text']);
    expect(out.failed).toHaveLength(1);
    expect(out.failed[0]!.evidence).toMatchObject({ passed: false, reasons: [expect.stringMatching(/tool calls/)] });
  });
});
