/**
 * Which chat requests may go down the ladder (template, adapter, cheap model). A route was learnt from single-turn
 * questions answered in plain text, so only requests of that shape are safe to serve from it: one user turn (an
 * optional leading system/developer message, the app's own prompt), no tools or function calls, no structured
 * output, one choice, and only sampling parameters that do not change what an answer must say. Anything else goes
 * to the frontier unchanged, with the reason in `x-distillery-reason`.
 */

/** Parameters a cheaper tier may ignore or take as given (they shape sampling, not the answer's content). */
export const SAFE_PARAMS: ReadonlySet<string> = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'user',
  'metadata',
  'store',
  'seed',
  'presence_penalty',
  'frequency_penalty',
]);

export type Eligibility = { ok: true; query: string; system: string | null } | { ok: false; reason: string };

interface Message {
  role?: unknown;
  content?: unknown;
}

/** The text of a message's content (a string, or text parts); undefined for anything else (images, audio). */
export function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const p of content as Array<{ type?: unknown; text?: unknown }>) {
      if (!p || p.type !== 'text' || typeof p.text !== 'string') return undefined;
      out += p.text;
    }
    return out;
  }
  return undefined;
}

export function ladderEligibility(body: Record<string, unknown>, opts: { allowSystem: boolean } = { allowSystem: true }): Eligibility {
  for (const k of Object.keys(body)) if (!SAFE_PARAMS.has(k)) return { ok: false, reason: `parameter "${k}" goes to the frontier` };
  if (body.n !== undefined && body.n !== 1) return { ok: false, reason: 'n > 1 goes to the frontier' };
  const messages = body.messages as Message[];
  let system: string | null = null;
  let i = 0;
  if (messages.length > 1 && (messages[0]!.role === 'system' || messages[0]!.role === 'developer')) {
    if (!opts.allowSystem) return { ok: false, reason: 'a system prompt goes to the frontier (GATEWAY_LADDER_SYSTEM=deny)' };
    const s = contentText(messages[0]!.content);
    if (s === undefined) return { ok: false, reason: 'non-text system message goes to the frontier' };
    system = s;
    i = 1;
  }
  if (messages.length - i !== 1) return { ok: false, reason: 'multi-turn conversation goes to the frontier' };
  const last = messages[i]!;
  if (last.role !== 'user') return { ok: false, reason: 'the last message is not a user turn' };
  const query = contentText(last.content);
  if (query === undefined || query.trim() === '') return { ok: false, reason: 'non-text user message goes to the frontier' };
  return { ok: true, query, system };
}
