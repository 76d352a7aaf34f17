import { describe, expect, it } from 'vitest';
import { toolCallCompletion, toolCallId, toolCallStream, toolLoopOf, toolLoopTurn } from '../../src/gateway/tool-loop';
import { type ToolScript, nextScriptAction } from '../../src/serving/toolscript';

/** Look the order up; a shipped order gets its carrier's status, a pending one is answered at once. */
const script: ToolScript = {
  kind: 'toolscript',
  steps: [{ tool: 'get_order', args: { id: { from: 'slot', slot: 'id', transform: 'number' } } }],
  branches: [
    {
      when: [{ step: 0, path: ['status'], in: ['shipped'] }],
      steps: [{ tool: 'track', args: { code: { from: 'result', step: 0, path: ['tracking'] } } }],
      answer: 'Order {{id}} is with the courier: {{step1.state}}.',
      reads: [
        { step: 0, path: ['tracking'], type: 'string' },
        { step: 1, path: ['state'], type: 'string' },
      ],
    },
    { when: [{ step: 0, path: ['status'], in: ['pending'] }], steps: [], answer: 'Order {{id}} has not shipped yet.', reads: [] },
  ],
  reads: [{ step: 0, path: ['status'], type: 'string', values: ['shipped', 'pending'] }],
};
const input = { query: 'where is order 42', slots: { id: '42' } };
const tools = [
  { type: 'function', function: { name: 'get_order' } },
  { type: 'function', function: { name: 'track' } },
];
const call = (id: string, name: string, args: unknown) => ({
  role: 'assistant',
  content: null,
  tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }],
});
const result = (id: string, v: unknown) => ({ role: 'tool', tool_call_id: id, content: JSON.stringify(v) });

describe('nextScriptAction (a script driven one result at a time)', () => {
  it('asks for each call in turn, then answers; the branch follows the results', () => {
    expect(nextScriptAction(script, input, [])).toEqual({ kind: 'call', step: 0, tool: 'get_order', args: { id: 42 } });
    expect(nextScriptAction(script, input, [{ status: 'shipped', tracking: 'T1' }])).toEqual({ kind: 'call', step: 1, tool: 'track', args: { code: 'T1' } });
    expect(nextScriptAction(script, input, [{ status: 'shipped', tracking: 'T1' }, { state: 'out for delivery' }])).toEqual({
      kind: 'answer',
      answer: 'Order 42 is with the courier: out for delivery.',
      branch: 0,
    });
    expect(nextScriptAction(script, input, [{ status: 'pending' }])).toEqual({ kind: 'answer', answer: 'Order 42 has not shipped yet.', branch: 1 });
  });

  it('hands over on what the traces did not cover: a missing slot, an unseen value, more results than steps', () => {
    expect(nextScriptAction(script, { query: 'where is my order', slots: {} }, [])).toMatchObject({ kind: 'frontier', reason: expect.stringContaining('id') });
    expect(nextScriptAction(script, input, [{ status: 'lost' }])).toMatchObject({ kind: 'frontier', reason: expect.stringContaining('never showed') });
    expect(nextScriptAction(script, input, [{ status: 'pending' }, { extra: 1 }])).toMatchObject({
      kind: 'frontier',
      reason: expect.stringContaining('2 results'),
    });
  });
});

describe('toolLoopOf (which tool requests a script may serve)', () => {
  it('reads the question, the offered tools and each earlier call with its result', () => {
    const loop = toolLoopOf({
      model: 'm',
      tools,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'where is order 42' },
        call('a', 'get_order', { id: 42 }),
        result('a', { status: 'pending' }),
      ],
    });
    expect(loop).toMatchObject({
      ok: true,
      query: 'where is order 42',
      system: 'Be brief.',
      calls: [{ id: 'a', tool: 'get_order', args: { id: 42 } }],
      results: [{ status: 'pending' }],
    });
    expect(loop.ok && [...loop.offered]).toEqual(['get_order', 'track']);
  });

  it('refuses, with the reason, what is not one user turn followed by (one call, its result) pairs', () => {
    const user = { role: 'user', content: 'where is order 42' };
    const reason = (body: Record<string, unknown>) => {
      const l = toolLoopOf({ model: 'm', tools, ...body });
      return l.ok ? null : l.reason;
    };
    expect(reason({ messages: [user], response_format: { type: 'json_object' } })).toMatch(/response_format/);
    expect(reason({ messages: [user], tool_choice: 'required' })).toMatch(/tool_choice/);
    expect(reason({ messages: [user, { role: 'assistant', content: 'hi' }] })).toMatch(/one tool call/);
    expect(reason({ messages: [user, call('a', 'get_order', {})] })).toMatch(/no result/);
    expect(reason({ messages: [user, call('a', 'get_order', {}), result('b', {})] })).toMatch(/no result/);
    expect(reason({ messages: [{ role: 'assistant', content: 'x' }] })).toMatch(/user turn/);
    expect(toolLoopOf({ model: 'm', tools: [{ type: 'code_interpreter' }], messages: [user] })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/named function/),
    });
  });
});

describe('toolLoopTurn', () => {
  const loopOf = (messages: unknown[]) => {
    const l = toolLoopOf({ model: 'm', tools, messages: [{ role: 'user', content: input.query }, ...messages] });
    if (!l.ok) throw new Error(l.reason);
    return l;
  };

  it("answers the conversation's next turn when every earlier turn was the script's own call", () => {
    expect(toolLoopTurn(script, input, loopOf([]))).toMatchObject({ kind: 'call', tool: 'get_order', args: { id: 42 } });
    const shipped = [call('a', 'get_order', { id: 42 }), result('a', { status: 'shipped', tracking: 'T1' })];
    expect(toolLoopTurn(script, input, loopOf(shipped))).toMatchObject({ kind: 'call', tool: 'track', args: { code: 'T1' } });
    expect(toolLoopTurn(script, input, loopOf([...shipped, call('b', 'track', { code: 'T1' }), result('b', { state: 'delivered' })]))).toMatchObject({
      kind: 'answer',
      answer: 'Order 42 is with the courier: delivered.',
    });
  });

  it('hands over when an earlier call differs from the script’s, or the next tool is not offered', () => {
    const steered = loopOf([call('a', 'get_order', { id: 7 }), result('a', { status: 'pending' })]);
    expect(toolLoopTurn(script, input, steered)).toMatchObject({ kind: 'frontier', reason: expect.stringContaining('left the script') });
    const l = loopOf([]);
    l.offered.delete('get_order');
    expect(toolLoopTurn(script, input, l)).toMatchObject({ kind: 'frontier', reason: expect.stringContaining('get_order') });
  });
});

describe('tool-call completions', () => {
  it('carry the call as the OpenAI API shapes it, with zero usage, plain and streamed', () => {
    const id = toolCallId(input.query, 0);
    expect(id).toBe(toolCallId(input.query, 0));
    expect(id).not.toBe(toolCallId(input.query, 1));
    const c = toolCallCompletion('cmpl-1', 'gpt-4o', { id, tool: 'get_order', args: { id: 42 } }, 1);
    expect(c.choices[0]).toEqual({
      index: 0,
      message: { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'get_order', arguments: '{"id":42}' } }] },
      finish_reason: 'tool_calls',
    });
    expect(c.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    const chunks = toolCallStream(c, true)
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)));
    expect(chunks[0].choices[0].delta.tool_calls[0]).toMatchObject({ index: 0, id, function: { name: 'get_order' } });
    expect(chunks[1].choices[0].finish_reason).toBe('tool_calls');
    expect(chunks[2].usage).toEqual(c.usage);
  });
});
