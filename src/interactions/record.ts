import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError, formatPath } from '../errors';
import { FEEDBACK_KINDS } from '../vocabulary';

/**
 * The interaction log record as it arrives (HTTP API, SDK, JSONL import): the OpenAI chat request and response as
 * the OpenAI client produces them, plus our metadata. Two shapes are accepted:
 *   - `{ request: { model, messages, ...params }, response: ChatCompletion, ... }` (what the SDK and API send);
 *   - `{ model?, messages: [..., { role: "assistant", content }] }` (the fine-tuning / chat-log shape), where the
 *     final assistant message is the teacher's answer.
 * Both normalise to one `InteractionRow`. Unknown fields inside messages and responses are kept, not rejected.
 */
const textPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const content = z.union([z.string(), z.array(textPart), z.null()]);
const message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: content.optional(),
});
/** Columns these numbers land in are Postgres `integer`: anything larger would fail the whole insert. */
export const MAX_INT4 = 2_147_483_647;
const int4 = z.number().int().min(0).max(MAX_INT4, `must be at most ${MAX_INT4}`);
const usage = z.looseObject({
  prompt_tokens: int4.optional(),
  completion_tokens: int4.optional(),
});
const choice = z.looseObject({
  message: z.looseObject({ role: z.literal('assistant').optional(), content: content.optional(), tool_calls: z.array(z.unknown()).optional() }),
});
const chatCompletion = z.looseObject({
  id: z.string().optional(),
  model: z.string().optional(),
  choices: z.array(choice).min(1, 'needs at least one choice with the assistant message'),
  usage: usage.nullish(),
});

export const feedbackFields = z.strictObject({
  kind: z.enum(FEEDBACK_KINDS, { error: `must be one of ${FEEDBACK_KINDS.join(', ')}` }),
  corrected_answer: z.string().min(1).max(200_000).optional(),
  score: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
});

const timestamp = z.union([z.iso.datetime({ offset: true, error: 'must be an ISO-8601 time with offset, e.g. 2026-11-01T12:00:00Z' }), z.number().int().positive()]);

const common = {
  idempotency_key: z.string().min(1).max(256).optional(),
  created_at: timestamp.optional(),
  latency_ms: int4.optional(),
  cost_usd: z.number().min(0).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  feedback: feedbackFields.optional(),
};

const requestResponseShape = z.strictObject({
  ...common,
  request: z.looseObject({ model: z.string().min(1), messages: z.array(message).min(1) }),
  response: chatCompletion,
});

const chatLogShape = z.strictObject({
  ...common,
  model: z.string().min(1).optional(),
  messages: z.array(message).min(2, 'needs the conversation and a final assistant message'),
  usage: usage.optional(),
});

export type RecordInput = z.input<typeof requestResponseShape> | z.input<typeof chatLogShape>;
export type ChatMessage = z.infer<typeof message>;

export interface InteractionRow {
  idempotencyKey: string;
  contentHash: string;
  occurredAt: string;
  teacherModel: string;
  messages: ChatMessage[];
  requestParams: Record<string, unknown>;
  response: Record<string, unknown>;
  queryText: string;
  answerText: string;
  promptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
  latencyMs: number | null;
  metadata: Record<string, unknown>;
  feedback: z.infer<typeof feedbackFields> | null;
}

export interface NormalizeOptions {
  /** Used when the record has no idempotency_key and its response has no id (e.g. file + line for imports). */
  fallbackKey?: string;
  /** Teacher model for chat-log records that do not name one. */
  defaultModel?: string;
  /** When the record has no created_at. */
  now?: Date;
}

/** Validates one record and normalises it; throws InputError naming the field at fault and the fix. */
export function normalizeRecord(input: unknown, opts: NormalizeOptions = {}, fieldPrefix = ''): InteractionRow {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InputError(fieldPrefix || '(body)', 'must be a JSON object with request/response or messages');
  }
  checkStorable(input, fieldPrefix);
  const isChatLog = !('request' in input) && !('response' in input) && 'messages' in input;
  // reportInput: issues carry the offending value, which tells "missing" from "wrong type".
  const parsed = (isChatLog ? chatLogShape : requestResponseShape).safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(formatPath(issue.path, fieldPrefix), describeIssue(issue));
  }
  const rec = parsed.data;
  let messages: ChatMessage[];
  let response: Record<string, unknown>;
  let model: string | undefined;
  let requestParams: Record<string, unknown> = {};
  let usageIn: z.infer<typeof usage> | null | undefined;
  if ('request' in rec) {
    const { model: m, messages: msgs, ...params } = rec.request;
    messages = msgs;
    model = m;
    requestParams = params;
    response = rec.response;
    usageIn = rec.response.usage;
  } else {
    const last = rec.messages[rec.messages.length - 1]!;
    if (last.role !== 'assistant') {
      throw new InputError(`${fieldPrefix ? fieldPrefix + '.' : ''}messages[${rec.messages.length - 1}].role`, 'the last message must be the assistant answer');
    }
    messages = rec.messages.slice(0, -1);
    model = rec.model ?? opts.defaultModel;
    if (!model) throw new InputError(join(fieldPrefix, 'model'), 'required: name the teacher model (or pass a default model to the import)');
    response = { model, choices: [{ index: 0, message: last, finish_reason: 'stop' }], ...(rec.usage ? { usage: rec.usage } : {}) };
    usageIn = rec.usage;
  }
  const queryText = lastUserText(messages);
  if (queryText === undefined) throw new InputError(join(fieldPrefix, isChatLog ? 'messages' : 'request.messages'), 'needs at least one user message with text');
  const answer = (response.choices as Array<z.infer<typeof choice>>)[0]!.message;
  const answerText = textOf(answer.content) ?? (answer.tool_calls ? JSON.stringify(answer.tool_calls) : undefined);
  if (answerText === undefined) throw new InputError(join(fieldPrefix, isChatLog ? 'messages' : 'response.choices[0].message.content'), 'the assistant answer has no text and no tool calls');

  const responseId = typeof response.id === 'string' ? response.id : undefined;
  const idempotencyKey = rec.idempotency_key ?? (responseId ? `response:${responseId}` : opts.fallbackKey);
  if (!idempotencyKey) throw new InputError(join(fieldPrefix, 'idempotency_key'), 'required when the response has no id: send a key unique to this call');
  const occurredAt = rec.created_at === undefined ? (opts.now ?? new Date()) : new Date(typeof rec.created_at === 'number' ? secondsOrMillis(rec.created_at) : rec.created_at);
  if (Number.isNaN(occurredAt.getTime())) throw new InputError(join(fieldPrefix, 'created_at'), 'is not a valid time');
  // Postgres timestamps (and ISO-8601 without an expanded year) stop at 9999; year 0 does not exist there.
  const year = occurredAt.getUTCFullYear();
  if (year < 1 || year > 9999) throw new InputError(join(fieldPrefix, 'created_at'), `is in the year ${year}: must be between the years 1 and 9999`);

  return {
    idempotencyKey,
    // The hash covers what the caller sent, not what we defaulted, so a retry without created_at still matches.
    contentHash: hashOrRefuse(fieldPrefix, { model, messages, requestParams, response, created_at: rec.created_at ?? null, latency: rec.latency_ms ?? null, cost: rec.cost_usd ?? null, metadata: rec.metadata ?? {}, feedback: rec.feedback ?? null }),
    occurredAt: occurredAt.toISOString(),
    teacherModel: model,
    messages,
    requestParams,
    response,
    queryText,
    answerText,
    promptTokens: usageIn?.prompt_tokens ?? null,
    completionTokens: usageIn?.completion_tokens ?? null,
    costUsd: rec.cost_usd ?? null,
    latencyMs: rec.latency_ms ?? null,
    metadata: rec.metadata ?? {},
    feedback: rec.feedback ? checkFeedback(rec.feedback, join(fieldPrefix, 'feedback')) : null,
  };
}

/** NUL, or a UTF-16 surrogate without its partner. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Postgres text and jsonb refuse U+0000 and unpaired surrogates (both are valid in JSON text): one such string makes
 * the whole insert fail, so any record holding one is refused up front, naming the field (a key counts too).
 * Also bounds the depth, so this walk (the first over the input) cannot overflow the stack.
 */
export function checkStorable(value: unknown, fieldPrefix = '', path: Array<string | number> = []): void {
  if (typeof value === 'string') {
    if (UNSTORABLE.test(value)) throw new InputError(formatPath(path, fieldPrefix), unstorableReason(value));
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (path.length >= MAX_JSON_DEPTH) throw new InputError(fieldPrefix || '(body)', `is nested more than ${MAX_JSON_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkStorable(value[i], fieldPrefix, [...path, i]);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (UNSTORABLE.test(k)) throw new InputError(formatPath([...path, sanitizeText(k)], fieldPrefix), `the field name ${unstorableReason(k)}`);
    checkStorable(v, fieldPrefix, [...path, k]);
  }
}

function unstorableReason(s: string): string {
  return s.includes('\u0000')
    ? 'contains U+0000 (NUL), which the database cannot store: remove it'
    : 'contains an unpaired UTF-16 surrogate (e.g. \\ud800 without its low half), which is not valid Unicode: send well-formed text';
}

/**
 * Makes any text safe to store and show (rejection reasons, excerpts of bad lines): control characters other than
 * tab, and unpaired surrogates, become visible `\uXXXX` escapes, so a binary or hostile line cannot fail the insert
 * of its own rejection.
 */
export function sanitizeText(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Cross-field rules that a schema per field cannot say. */
export function checkFeedback<T extends z.infer<typeof feedbackFields>>(f: T, field: string): T {
  if (f.kind === 'edited' && !f.corrected_answer) throw new InputError(join(field, 'corrected_answer'), 'required when kind is "edited"');
  if (f.kind === 'score' && f.score === undefined) throw new InputError(join(field, 'score'), 'required when kind is "score" (a number from 0 to 1)');
  return f;
}

/** JSON nested deeper than canonicalJson allows is no chat log: refuse it by name instead of failing the batch. */
function hashOrRefuse(fieldPrefix: string, value: unknown): string {
  try {
    return contentHash(value);
  } catch (err) {
    if (err instanceof TooDeepError) throw new InputError(fieldPrefix || '(body)', err.message);
    throw err;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined) return `required (${issue.expected})`;
  if (issue.code === 'unrecognized_keys') return `unknown field(s) ${issue.keys.join(', ')}: remove them or put them under "metadata"`;
  return issue.message;
}

function join(prefix: string, field: string): string {
  return prefix ? `${prefix}.${field}` : field;
}

/** Epoch numbers below 1e12 are seconds (OpenAI's `created`), above are milliseconds. */
function secondsOrMillis(n: number): number {
  return n < 1e12 ? n * 1000 : n;
}

export function textOf(c: z.infer<typeof content> | undefined): string | undefined {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    const texts = c.filter((p) => typeof p.text === 'string').map((p) => p.text!);
    return texts.length ? texts.join('\n') : undefined;
  }
  return undefined;
}

function lastUserText(messages: ChatMessage[]): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role === 'user') {
      const t = textOf(m.content);
      if (t !== undefined && t.trim() !== '') return t;
    }
  }
  return undefined;
}

/** SHA-256 of a canonical JSON (keys sorted at every level), so key order never makes two equal records differ. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** Deeper JSON is refused: no chat log needs it, and the recursion below must not overflow the stack. */
export const MAX_JSON_DEPTH = 64;

export class TooDeepError extends Error {
  override readonly name = 'TooDeepError';
}

export function canonicalJson(value: unknown, depth = 0): string {
  // A string builder rather than map/filter/join chains: this runs once per logged record, on the import hot path.
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (depth >= MAX_JSON_DEPTH) throw new TooDeepError(`is nested more than ${MAX_JSON_DEPTH} levels deep`);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i], depth + 1);
    return out + ']';
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v, depth + 1);
    first = false;
  }
  return out + '}';
}
