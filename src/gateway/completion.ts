import { randomUUID } from 'node:crypto';

/**
 * The chat.completion shapes the gateway writes itself (template answers) and the one it assembles from a streamed
 * upstream answer (to log it as an interaction and to judge it), as the OpenAI API defines them.
 */

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{ index: number; message: { role: 'assistant'; content: string | null; tool_calls?: unknown[] }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  [k: string]: unknown;
}

export const ZERO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

export function completionId(): string {
  return `chatcmpl-dst-${randomUUID()}`;
}

/** A template's answer as a chat.completion: no model ran, so usage is zero. */
export function localCompletion(id: string, model: string, answer: string, created = Math.floor(Date.now() / 1000)): ChatCompletion {
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
    usage: { ...ZERO_USAGE },
  };
}

/** The same answer as SSE `data:` lines: a role chunk, the content, the finish, the usage when asked, `[DONE]`. */
export function localStream(c: ChatCompletion, includeUsage: boolean): string {
  const base = { id: c.id, object: 'chat.completion.chunk', created: c.created, model: c.model };
  const chunks: unknown[] = [
    { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: { content: c.choices[0]!.message.content }, finish_reason: null }] },
    { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
  ];
  if (includeUsage) chunks.push({ ...base, choices: [], usage: c.usage });
  return chunks.map(sse).join('') + 'data: [DONE]\n\n';
}

export function sse(chunk: unknown): string {
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

interface Chunk {
  id?: string;
  created?: number;
  model?: string;
  choices?: Array<{ index?: number; delta?: { content?: string | null; tool_calls?: unknown[] }; finish_reason?: string | null }>;
  usage?: ChatCompletion['usage'];
  system_fingerprint?: string;
}

/** Folds streamed chunks into the chat.completion they stand for (first choice; tool-call deltas kept as given). */
export class StreamAssembler {
  private id = '';
  private created = 0;
  private model = '';
  private content = '';
  private toolCalls: unknown[] = [];
  private finish: string | null = null;
  private usage: ChatCompletion['usage'] = null;

  add(c: Chunk): void {
    this.id ||= c.id ?? '';
    this.created ||= c.created ?? 0;
    this.model ||= c.model ?? '';
    if (c.usage) this.usage = c.usage;
    for (const ch of c.choices ?? []) {
      if ((ch.index ?? 0) !== 0) continue;
      if (typeof ch.delta?.content === 'string') this.content += ch.delta.content;
      if (ch.delta?.tool_calls) this.toolCalls.push(...ch.delta.tool_calls);
      if (ch.finish_reason) this.finish = ch.finish_reason;
    }
  }

  get text(): string {
    return this.content;
  }

  completion(): ChatCompletion {
    return {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: this.content, ...(this.toolCalls.length ? { tool_calls: this.toolCalls } : {}) },
          finish_reason: this.finish,
        },
      ],
      usage: this.usage,
    };
  }
}

/** Text of the first choice of a completion ('' when it holds none). */
export function answerText(c: { choices?: Array<{ message?: { content?: unknown } }> }): string {
  const content = c.choices?.[0]?.message?.content;
  return typeof content === 'string' ? content : '';
}

/** A rough token count (4 characters a token) where no model counted: template answers, for the savings figures. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
