import { createHash } from 'node:crypto';
import { z } from 'zod';
import { InputError, formatPath } from '../errors';
import { FEEDBACK_KINDS } from '../vocabulary';
import { codePointLength, findUnstorableString } from './storable';
import { checkToolLoop } from './tool-loop';

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
/** Largest value of a Postgres `integer` column (token counts, latency): a larger one fails the whole INSERT. */
export const INT4_MAX = 2_147_483_647;
/** A cost per call above this is a unit mistake (cents, micro-dollars), not a teacher call. */
export const MAX_COST_USD = 1_000_000;
const int4 = (unit: string) =>
  z.number().int(`must be an integer (${unit})`).min(0, `must be from 0 to ${INT4_MAX} (${unit})`).max(INT4_MAX, `must be from 0 to ${INT4_MAX} (${unit})`);

const usage = z.looseObject({
  prompt_tokens: int4('tokens').optional(),
  completion_tokens: int4('tokens').optional(),
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

/** A string of 1..max characters, counted in code points as the OpenAPI document's maxLength is. */
export const boundedText = (max: number, params?: Parameters<typeof z.string>[0]) =>
  z
    .string(params)
    .min(1, 'must not be empty')
    .refine((s) => codePointLength(s) <= max, `must be at most ${max} characters`);

export const feedbackFields = z.strictObject({
  kind: z.enum(FEEDBACK_KINDS, { error: `must be one of ${FEEDBACK_KINDS.join(', ')}` }),
  corrected_answer: boundedText(200_000).optional(),
  score: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
});

/**
 * Times are accepted from 2000 to 2099 (no teacher call is older; a later one is a unit or clock mistake, and years
 * past 9999 do not fit timestamptz). ISO times: RFC 3339 with an offset, the year read as written. The OpenAPI
 * document states the same pattern and ranges (src/api/schemas.ts).
 */
export const ISO_TIME_PATTERN =
  '^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$';
export const EPOCH_SECONDS_RANGE = [946_684_800, 4_102_444_799] as const; // 2000-01-01 .. 2099-12-31 (UTC)
export const EPOCH_MILLIS_RANGE = [946_684_800_000, 4_102_444_799_999] as const;
const TIME_HINT = 'must be an ISO-8601 time with offset from the years 2000-2099, e.g. 2026-11-01T12:00:00Z, or epoch seconds/milliseconds in that range';
const inRange = (n: number, [lo, hi]: readonly [number, number]) => n >= lo && n <= hi;
const timestamp = z.union(
  [
    z.string().regex(new RegExp(ISO_TIME_PATTERN), TIME_HINT),
    z
      .number()
      .int(TIME_HINT)
      .refine((n) => inRange(n, EPOCH_SECONDS_RANGE) || inRange(n, EPOCH_MILLIS_RANGE), TIME_HINT),
  ],
  { error: TIME_HINT },
);

const common = {
  idempotency_key: boundedText(256).optional(),
  created_at: timestamp.optional(),
  latency_ms: int4('milliseconds').optional(),
  cost_usd: z.number().min(0, `must be from 0 to ${MAX_COST_USD} (US dollars)`).max(MAX_COST_USD, `must be from 0 to ${MAX_COST_USD} (US dollars)`).optional(),
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
  /** The tool schemas of a tool loop (OpenAI's fine-tuning format puts them beside the messages). */
  tools: z.array(z.unknown()).optional(),
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
  assertStorableStrings(input, fieldPrefix);
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
    if (rec.tools !== undefined) requestParams = { tools: rec.tools };
  }
  checkToolLoop(messages, requestParams.tools, {
    messages: join(fieldPrefix, isChatLog ? 'messages' : 'request.messages'),
    tools: join(fieldPrefix, isChatLog ? 'tools' : 'request.tools'),
  });
  const queryText = lastUserText(messages);
  if (queryText === undefined)
    throw new InputError(join(fieldPrefix, isChatLog ? 'messages' : 'request.messages'), 'needs at least one user message with text');
  const answer = (response.choices as Array<z.infer<typeof choice>>)[0]!.message;
  const answerText = textOf(answer.content) ?? (answer.tool_calls ? JSON.stringify(answer.tool_calls) : undefined);
  if (answerText === undefined)
    throw new InputError(
      join(fieldPrefix, isChatLog ? 'messages' : 'response.choices[0].message.content'),
      'the assistant answer has no text and no tool calls',
    );

  const responseId = typeof response.id === 'string' ? response.id : undefined;
  const idempotencyKey = rec.idempotency_key ?? (responseId ? `response:${responseId}` : opts.fallbackKey);
  if (!idempotencyKey) throw new InputError(join(fieldPrefix, 'idempotency_key'), 'required when the response has no id: send a key unique to this call');
  const occurredAt =
    rec.created_at === undefined ? (opts.now ?? new Date()) : new Date(typeof rec.created_at === 'number' ? secondsOrMillis(rec.created_at) : rec.created_at);
  if (Number.isNaN(occurredAt.getTime())) throw new InputError(join(fieldPrefix, 'created_at'), 'is not a valid time');

  return {
    idempotencyKey,
    // The hash covers what the caller sent, not what we defaulted, so a retry without created_at still matches.
    contentHash: hashOrRefuse(fieldPrefix, {
      model,
      messages,
      requestParams,
      response,
      created_at: rec.created_at ?? null,
      latency: rec.latency_ms ?? null,
      cost: rec.cost_usd ?? null,
      metadata: rec.metadata ?? {},
      feedback: rec.feedback ?? null,
    }),
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

/**
 * Refuses a value holding a string Postgres cannot store (U+0000, an unpaired surrogate), naming its JSON path under
 * `fieldPrefix`. The one check for every way in (API, SDK, file import, feedback, review decisions): refused, not
 * escaped, so what is stored is always exactly what was sent (see README, Limits).
 */
export function assertStorableStrings(input: unknown, fieldPrefix = ''): void {
  const bad = findUnstorableString(input, MAX_JSON_DEPTH);
  if (bad) throw new InputError(formatPath(bad.path, fieldPrefix), bad.message);
}

/**
 * Makes any text safe to store and show (rejection reasons, excerpts of bad lines): control characters other than
 * tab, and unpaired surrogates, become visible `\uXXXX` escapes, so a binary or hostile line cannot fail the insert
 * of its own rejection.
 */
export function sanitizeText(s: string): string {
  return s.replace(
    /[\u0000-\u0008\u000b-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
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

/** Epoch numbers in the seconds range are seconds (OpenAI's `created`), larger ones milliseconds (the ranges do not overlap). */
function secondsOrMillis(n: number): number {
  return n <= EPOCH_SECONDS_RANGE[1] ? n * 1000 : n;
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
