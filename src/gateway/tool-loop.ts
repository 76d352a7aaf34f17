import { createHash } from 'node:crypto';
import { canonicalJson } from '../serving/manifest-hash';
import { type ScriptAction, type ToolScript, nextScriptAction, parseResult } from '../serving/toolscript';
import { type ChatCompletion, ZERO_USAGE, sse } from './completion';
import { SAFE_PARAMS, contentText } from './eligibility';

/**
 * A tool-using agent's conversation served by a tool script, one chat turn at a time. The client runs its own tools:
 * the gateway answers a turn with the script's next tool call (an assistant message with `tool_calls`, zero usage),
 * the client sends the conversation back with the tool's result, and so on until the script's answer. Nothing is
 * kept between turns: the conversation itself holds the results, and each earlier assistant turn must be exactly the
 * call the script makes there (else the client or another model steered it, and the frontier takes over).
 */

/** Parameters a tool loop may carry: the single-turn ones, and those that offer tools (they do not change answers). */
const TOOL_PARAMS = new Set([...SAFE_PARAMS, 'tools', 'tool_choice', 'parallel_tool_calls']);

export interface ToolLoopCall {
  id: string;
  tool: string;
  args: unknown;
}

export type ToolLoop =
  | {
      ok: true;
      /** The user's question (the conversation's one user turn) and the app's prompt, if any. */
      query: string;
      system: string | null;
      /** Names of the function tools the request offers. */
      offered: Set<string>;
      /** The calls of the earlier assistant turns, in order, and their results (parsed when JSON). */
      calls: ToolLoopCall[];
      results: unknown[];
    }
  | { ok: false; reason: string };

interface Message {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/** Whether a request with `tools` has the shape a script can serve: [system], user, then (one call, its result)*. */
export function toolLoopOf(body: Record<string, unknown>, opts: { allowSystem: boolean } = { allowSystem: true }): ToolLoop {
  for (const k of Object.keys(body)) if (!TOOL_PARAMS.has(k)) return { ok: false, reason: `parameter "${k}" goes to the frontier` };
  if (body.tool_choice !== undefined && body.tool_choice !== 'auto') return { ok: false, reason: 'a tool_choice other than "auto" goes to the frontier' };
  const offered = new Set<string>();
  for (const t of body.tools as Array<{ type?: unknown; function?: { name?: unknown } }>) {
    if (t?.type !== 'function' || typeof t.function?.name !== 'string')
      return { ok: false, reason: 'a tool that is not a named function goes to the frontier' };
    offered.add(t.function.name);
  }
  const messages = body.messages as Message[];
  let i = 0;
  let system: string | null = null;
  if (messages[0]?.role === 'system' || messages[0]?.role === 'developer') {
    if (!opts.allowSystem) return { ok: false, reason: 'a system prompt goes to the frontier (GATEWAY_LADDER_SYSTEM=deny)' };
    const s = contentText(messages[0].content);
    if (s === undefined) return { ok: false, reason: 'non-text system message goes to the frontier' };
    system = s;
    i = 1;
  }
  const user = messages[i];
  const query = user?.role === 'user' ? contentText(user.content) : undefined;
  if (query === undefined || query.trim() === '') return { ok: false, reason: 'a tool loop must start with one text user turn' };
  const calls: ToolLoopCall[] = [];
  const results: unknown[] = [];
  for (i++; i < messages.length; i += 2) {
    const a = messages[i]!;
    const t = messages[i + 1];
    const tc = Array.isArray(a.tool_calls) ? (a.tool_calls as Array<{ id?: unknown; function?: { name?: unknown; arguments?: unknown } }>) : [];
    if (a.role !== 'assistant' || tc.length !== 1) return { ok: false, reason: 'a turn other than one tool call and its result goes to the frontier' };
    const call = tc[0]!;
    if (typeof call.id !== 'string' || typeof call.function?.name !== 'string' || typeof call.function.arguments !== 'string')
      return { ok: false, reason: 'a tool call without id, name or arguments goes to the frontier' };
    if (t?.role !== 'tool' || t.tool_call_id !== call.id) return { ok: false, reason: `tool call ${call.id} has no result message after it` };
    const content = contentText(t.content);
    if (content === undefined) return { ok: false, reason: 'a non-text tool result goes to the frontier' };
    let args: unknown;
    try {
      args = JSON.parse(call.function.arguments);
    } catch {
      return { ok: false, reason: `tool call ${call.id} has arguments that are not JSON` };
    }
    calls.push({ id: call.id, tool: call.function.name, args });
    results.push(parseResult(content));
  }
  return { ok: true, query, system, offered, calls, results };
}

/**
 * The script's action for this turn of the loop: it replays the earlier turns (each must be the call the script
 * makes at that step, with the same arguments) and then answers with the next call, the answer, or the frontier.
 */
export function toolLoopTurn(script: ToolScript, input: { query: string; slots: Record<string, string> }, loop: Extract<ToolLoop, { ok: true }>): ScriptAction {
  for (let k = 0; k < loop.calls.length; k++) {
    const a = nextScriptAction(script, input, loop.results.slice(0, k));
    const c = loop.calls[k]!;
    if (a.kind !== 'call' || a.tool !== c.tool || canonicalJson(a.args) !== canonicalJson(c.args))
      return { kind: 'frontier', reason: `turn ${k + 1} is not the script's call (${c.tool}): the conversation left the script` };
  }
  const next = nextScriptAction(script, input, loop.results);
  if (next.kind === 'call' && !loop.offered.has(next.tool)) return { kind: 'frontier', reason: `the request does not offer the script's tool "${next.tool}"` };
  return next;
}

/** A stable call id for step `step` of a conversation (the client echoes it back in its tool message). */
export function toolCallId(query: string, step: number): string {
  return `call_dst_${createHash('sha256').update(`${step}\u0000${query}`).digest('hex').slice(0, 20)}`;
}

/** The script's tool call as a chat.completion (finish_reason "tool_calls", zero usage: no model ran). */
export function toolCallCompletion(
  id: string,
  model: string,
  call: { id: string; tool: string; args: unknown },
  created = Math.floor(Date.now() / 1000),
): ChatCompletion {
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: call.id, type: 'function', function: { name: call.tool, arguments: JSON.stringify(call.args) } }],
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: { ...ZERO_USAGE },
  };
}

/** The same tool call as SSE: the call in one delta (index 0), the finish, the usage when asked, `[DONE]`. */
export function toolCallStream(c: ChatCompletion, includeUsage: boolean): string {
  const base = { id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model };
  const [call] = c.choices[0]!.message.tool_calls as Array<Record<string, unknown>>;
  const chunks: unknown[] = [
    { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, ...call }] }, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
  ];
  if (includeUsage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks.map(sse).join('') + 'data: [DONE]\n\n';
}
