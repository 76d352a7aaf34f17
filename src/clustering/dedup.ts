import { createHash } from 'node:crypto';
import { type NormalizedQuery, normalizeQuery } from '../serving/normalize';

/**
 * What clustering keys a query by (pipeline only; serving needs normalizeQuery alone): the query of a conversation,
 * its system-prompt family, and the key that collapses exact duplicates.
 */
export interface ChatMessageLike {
  role: string;
  content?: string | ReadonlyArray<{ type: string; text?: string }> | null;
}

function contentText(c: ChatMessageLike['content']): string | undefined {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    const texts = c.filter((p) => typeof p.text === 'string').map((p) => p.text!);
    return texts.length ? texts.join('\n') : undefined;
  }
  return undefined;
}

/** Characters of the normalised system prompt that make its family key. */
export const FAMILY_PREFIX_CHARS = 200;

/**
 * The query of a conversation: the last user message with text (string content, or its text parts joined by
 * newlines; the same rule as the stored `query_text`). With `systemFamily`, also a stable 12-hex key of the system
 * prompt (system and developer messages): SHA-256 of the first 200 characters of its normalised text, values masked
 * (names kept), so that queries under different system prompts can be clustered apart while prompts that differ
 * only in whitespace, casing or an injected date share a family. No system prompt has a family too (that of "").
 */
export function queryOf(messages: ReadonlyArray<ChatMessageLike>, opts: { systemFamily?: boolean } = {}): { query: string; family?: string } {
  let query = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    const t = contentText(m.content);
    if (t !== undefined && t.trim() !== '') {
      query = t;
      break;
    }
  }
  if (!opts.systemFamily) return { query };
  const system = messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => contentText(m.content) ?? '')
    .join('\n');
  const prefix = normalizeQuery(system, { maskNames: false }).text.slice(0, FAMILY_PREFIX_CHARS);
  return { query, family: createHash('sha256').update(prefix).digest('hex').slice(0, 12) };
}

/** The key that collapses exact duplicates: the family (when given) and the normalised text. */
export function dedupKey(n: NormalizedQuery, family?: string): string {
  return family ? `${family}\n${n.text}` : n.text;
}
