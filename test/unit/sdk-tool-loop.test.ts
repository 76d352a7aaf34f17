import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { withDistillery } from '../../src/sdk';

/** A chat client double (plain promises) and a fetch that records what the SDK posts to Distillery. */
function setup(toolLoops?: 'once') {
  const posted: Array<Record<string, any>> = [];
  const fetch = (async (_url: string, init: { body: string }) => {
    posted.push(JSON.parse(init.body));
    return new Response(JSON.stringify({ key: 'k', status: 'stored' }), { status: 201, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof globalThis.fetch;
  let n = 0;
  const reply = (message: Record<string, unknown>) => ({
    id: `chatcmpl-${++n}`,
    choices: [{ index: 0, message, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10 * n, completion_tokens: n },
  });
  const create = async (params: { messages: Array<Record<string, unknown>> }) => {
    const last = params.messages[params.messages.length - 1]!;
    if (last.role === 'user')
      return reply({
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'lookup_order', arguments: '{"order_id":"7"}' } }],
      });
    return reply({ role: 'assistant', content: 'Order 7 has shipped.' });
  };
  const client = withDistillery({ chat: { completions: { create } } } as unknown as OpenAI, {
    endpoint: 'http://distillery.test',
    apiKey: 'dk_test',
    fetch,
    toolLoops,
  });
  return { client, posted };
}

async function loop(client: OpenAI) {
  const messages: Array<Record<string, unknown>> = [{ role: 'user', content: 'where is order 7?' }];
  const first = await client.chat.completions.create({ model: 'm', messages } as never);
  const call = first.choices[0]!.message.tool_calls![0]!;
  messages.push(first.choices[0]!.message as never, { role: 'tool', tool_call_id: call.id, content: '{"status":"shipped"}' });
  return client.chat.completions.create({ model: 'm', messages } as never);
}

describe('SDK: tool loops', () => {
  it('logs every turn by default', async () => {
    const { client, posted } = setup();
    await loop(client);
    await client.distillery.flush();
    expect(posted).toHaveLength(2);
  });

  it("with toolLoops: 'once', logs the loop once: full history, summed latency, per-turn usage", async () => {
    const { client, posted } = setup('once');
    await loop(client);
    await client.distillery.flush();
    expect(posted).toHaveLength(1);
    const r = posted[0]!;
    expect(r.request.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(r.response.choices[0].message.content).toBe('Order 7 has shipped.');
    expect(r.metadata.tool_loop.turns).toBe(2);
    expect(r.metadata.tool_loop.steps.map((s: { usage: { prompt_tokens: number } }) => s.usage.prompt_tokens)).toEqual([10, 20]);
    expect(r.latency_ms).toBe(r.metadata.tool_loop.steps.reduce((a: number, s: { latency_ms: number }) => a + s.latency_ms, 0));
  });

  it('a tool-calling turn nobody continues is logged alone at flush', async () => {
    const { client, posted } = setup('once');
    await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'where is order 7?' }] } as never);
    expect(posted).toHaveLength(0);
    await client.distillery.flush();
    expect(posted).toHaveLength(1);
    expect(posted[0]!.response.choices[0].message.tool_calls[0].id).toBe('call_a');
  });
});
