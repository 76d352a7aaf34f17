import { parseResult } from '../serving/toolscript';
import { textOf } from '../interactions/record';

/**
 * A logged tool loop read back as a trace: the query, the tool calls in order with their logged results, the final
 * answer. Only complete loops are traces: an interaction whose answer is itself a tool call (an intermediate turn a
 * tool runner logged) or that called no tool is not one.
 */
export interface TraceCall {
  tool: string;
  args: Record<string, unknown>;
  result: unknown;
}

export interface ToolTrace {
  id: string;
  query: string;
  calls: TraceCall[];
  answer: string;
  /** Names of the tools the request offered. */
  offered: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface StoredInteraction {
  id: string;
  queryText: string;
  messages: ReadonlyArray<Obj>;
  requestParams: Obj;
  response: Obj;
  /** The accepted answer (an edited one replaces the teacher's); defaults to the response's text. */
  answer?: string;
}

/** The trace of an interaction, or null when it holds no complete tool loop. */
export function parseTrace(x: StoredInteraction): ToolTrace | null {
  const choice = (x.response.choices as Obj[] | undefined)?.[0];
  const final = isObj(choice?.message) ? (choice.message as Obj) : undefined;
  if (!final || Array.isArray(final.tool_calls)) return null;
  const answer = x.answer ?? textOf(final.content as never);
  if (answer === undefined) return null;
  const results = new Map<string, unknown>();
  for (const m of x.messages) if (m.role === 'tool' && typeof m.tool_call_id === 'string') results.set(m.tool_call_id, toolContent(m.content));
  const calls: TraceCall[] = [];
  for (const m of x.messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.tool_calls)) continue;
    for (const c of m.tool_calls as Obj[]) {
      const fn = c.function as Obj | undefined;
      if (!fn || typeof fn.name !== 'string' || typeof c.id !== 'string' || !results.has(c.id)) return null;
      let args: unknown;
      try {
        args = typeof fn.arguments === 'string' ? JSON.parse(fn.arguments) : fn.arguments;
      } catch {
        return null;
      }
      if (!isObj(args)) return null;
      calls.push({ tool: fn.name, args, result: results.get(c.id) });
    }
  }
  if (!calls.length) return null;
  const offered = Array.isArray(x.requestParams.tools)
    ? (x.requestParams.tools as Obj[]).map((t) => (isObj(t.function) ? String((t.function as Obj).name) : '')).filter(Boolean)
    : [];
  return { id: x.id, query: x.queryText, calls, answer, offered };
}

function toolContent(c: unknown): unknown {
  if (typeof c === 'string') return parseResult(c);
  const t = textOf(c as never);
  return t === undefined ? c : parseResult(t);
}

/** An openai-client tool loop for one query (the shape the SDK logs and the tests and benchmark build). */
export function toolLoopMessages(query: string, calls: TraceCall[], answer: string, system?: string): { messages: Obj[]; answer: Obj } {
  const messages: Obj[] = [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: query }];
  calls.forEach((c, i) => {
    const id = `call_${i}`;
    messages.push({ role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: c.tool, arguments: JSON.stringify(c.args) } }] });
    messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(c.result) });
  });
  return { messages, answer: { role: 'assistant', content: answer } };
}
