import { InputError } from '../errors';

/**
 * The tool loop inside a logged interaction, as the openai client produces it: the request's `tools`, assistant
 * messages with `tool_calls` (`{id, type: "function", function: {name, arguments: "<JSON text>"}}`), `tool` messages
 * answering them by `tool_call_id`, then the final assistant answer. Such a record is stored like any other (the
 * messages and tools as sent); these checks only refuse loops a script could never be mined from, naming the field.
 * A record is a loop when an assistant message of its history calls tools; other records are not checked here (a
 * stray tool message, or an answer that is itself a tool call, was always accepted and stays so).
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (prefix: string, field: string) => (prefix ? `${prefix}.${field}` : field);

/** Checks `tools`, every assistant `tool_calls` entry and every `tool` message; throws InputError naming the field. */
export function checkToolLoop(messages: ReadonlyArray<Obj>, tools: unknown, fields: { messages: string; tools: string }): void {
  if (!messages.some((m) => m.role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null)) return;
  if (tools !== undefined) checkTools(tools, fields.tools);
  const callIds = new Set<string>();
  messages.forEach((m, i) => {
    const field = `${fields.messages}[${i}]`;
    if (m.role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null) checkCalls(m.tool_calls, `${field}.tool_calls`, callIds);
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string' || !m.tool_call_id)
        throw new InputError(`${field}.tool_call_id`, 'required on a tool message: the id of the assistant tool call it answers');
      if (!callIds.has(m.tool_call_id))
        throw new InputError(`${field}.tool_call_id`, `"${m.tool_call_id.slice(0, 80)}" names no tool call of an earlier assistant message`);
      if (m.content === undefined || m.content === null)
        throw new InputError(`${field}.content`, 'required on a tool message: the tool result (text or JSON text)');
    }
  });
}

function checkTools(tools: unknown, field: string): void {
  if (!Array.isArray(tools)) throw new InputError(field, 'must be an array of {type: "function", function: {name, parameters}}');
  tools.forEach((t, i) => {
    const f = isObj(t) ? t.function : undefined;
    if (!isObj(f) || typeof f.name !== 'string' || !f.name) throw new InputError(`${field}[${i}].function.name`, 'required: the tool name');
    if (f.parameters !== undefined && !isObj(f.parameters)) throw new InputError(`${field}[${i}].function.parameters`, 'must be a JSON Schema object');
  });
}

function checkCalls(calls: unknown, field: string, ids: Set<string>): void {
  if (!Array.isArray(calls)) throw new InputError(field, 'must be an array of tool calls');
  calls.forEach((c, j) => {
    const f = `${field}[${j}]`;
    if (!isObj(c)) throw new InputError(f, 'must be an object {id, type: "function", function: {name, arguments}}');
    if (typeof c.id !== 'string' || !c.id) throw new InputError(`${f}.id`, 'required: the tool call id the tool message answers');
    const fn = c.function;
    if (!isObj(fn) || typeof fn.name !== 'string' || !fn.name) throw new InputError(`${f}.function.name`, 'required: the tool called');
    if (typeof fn.arguments !== 'string')
      throw new InputError(`${f}.function.arguments`, 'required: the arguments as JSON text, as the openai client sends them');
    let args: unknown;
    try {
      args = JSON.parse(fn.arguments);
    } catch {
      throw new InputError(`${f}.function.arguments`, 'is not valid JSON');
    }
    if (!isObj(args)) throw new InputError(`${f}.function.arguments`, 'must be a JSON object');
    ids.add(c.id);
  });
}
