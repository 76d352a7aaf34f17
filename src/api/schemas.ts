/**
 * JSON schemas of the HTTP API, for the OpenAPI document only. Requests are NOT validated against these: the routes
 * run the same zod-based functions as the SDK and the file import (normalizeRecord, parseFeedback), so a bad field
 * gets the same message everywhere. Keep these in step with src/interactions/record.ts and feedback.ts.
 */

import { EPOCH_MILLIS_RANGE, EPOCH_SECONDS_RANGE, ISO_TIME_PATTERN, MAX_COST_USD } from '../interactions/record';

export const errorSchema = {
  type: 'object',
  description:
    'Every 4xx/5xx response has this shape. `field` names the input at fault as a JSON path into the body ' +
    '(e.g. `interactions[3].request.messages`), or one of `(body)`, `authorization`, `content-type`, `(path)`, `(server)`.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['field', 'message'],
      properties: {
        field: { type: 'string', example: 'request.messages' },
        message: { type: 'string', example: 'required (array)' },
      },
    },
  },
} as const;

const itemError = {
  type: 'object',
  required: ['field', 'message'],
  properties: { field: { type: 'string' }, message: { type: 'string' } },
} as const;

/**
 * What the server enforces on every string it stores, stated once. Postgres refuses U+0000 and unpaired UTF-16
 * surrogates (src/interactions/storable.ts), so every string and every object key of a body must match this pattern.
 * Unpaired surrogates (a JSON escape such as "\ud800" alone) are not valid Unicode text at all, so no pattern states
 * them (and generators cannot use a surrogate range): the descriptions say it. Lengths are in code points.
 */
export const STORABLE_PATTERN = '^[^\\u0000]*$';
/** At least one character that is not white space (JavaScript's trim() set, spelled out so every engine agrees). */
export const NONBLANK_PATTERN = '[^\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]';

const text = (extra: Record<string, unknown> = {}) => ({ type: 'string', pattern: STORABLE_PATTERN, ...extra }) as const;
const nonBlankText = (extra: Record<string, unknown> = {}) =>
  ({ type: 'string', allOf: [{ pattern: STORABLE_PATTERN }, { pattern: NONBLANK_PATTERN }], ...extra }) as const;
const key = { pattern: STORABLE_PATTERN, not: { const: '__proto__' } } as const;

export const JSON_VALUE_REF = '#/components/schemas/JsonValue';
const json = { $ref: JSON_VALUE_REF } as const;
/** Free-form JSON (metadata, unknown message and response fields): any value whose strings and keys are storable. */
export const jsonValueSchema = {
  description: 'Any JSON value whose strings and object keys hold no U+0000 or unpaired surrogate, nested at most 64 levels.',
  anyOf: [
    text(),
    { type: 'number' },
    { type: 'boolean' },
    { type: 'null' },
    { type: 'array', items: json },
    { type: 'object', propertyNames: key, additionalProperties: json },
  ],
} as const;

/** A JSON object with free-form fields besides the `properties` given. */
const loose = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ type: 'object', properties, propertyNames: key, additionalProperties: json, ...extra }) as const;

const INT4_MAX = 2_147_483_647;
const int4 = (description: string) => ({ type: 'integer', minimum: 0, maximum: INT4_MAX, description }) as const;

const textPart = loose({ type: text(), text: text() }, { required: ['type'] });
const content = {
  description: 'A string, an array of content parts ({type, text}), or null.',
  anyOf: [text(), { type: 'array', items: textPart }, { type: 'null' }],
} as const;
/** Content that has text: a string, or parts of which at least one has a `text`. */
const contentWithText = {
  anyOf: [text(), { type: 'array', items: textPart, contains: loose({ type: text(), text: text() }, { required: ['type', 'text'] }) }],
} as const;
/** Content with a non-blank text: the query the server reads from the last such user message. */
const contentWithQuery = {
  anyOf: [nonBlankText(), { type: 'array', items: textPart, contains: loose({ type: text(), text: nonBlankText() }, { required: ['type', 'text'] }) }],
} as const;

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'] as const;
const message = loose({ role: { type: 'string', enum: ROLES }, content }, { required: ['role'] });
/** The conversation needs a user message with text: the query. */
const userQuery = loose({ role: { const: 'user' }, content: contentWithQuery }, { required: ['role', 'content'] });
/** The teacher's answer: text, or tool calls. */
const answerMessage = (role: Record<string, unknown>, required: string[]) =>
  loose(
    { role, content, tool_calls: { type: 'array', items: json } },
    { required, anyOf: [{ required: ['content'], properties: { content: contentWithText } }, { required: ['tool_calls'] }] },
  );

const usage = loose({ prompt_tokens: int4('tokens'), completion_tokens: int4('tokens') });

/** Time: ISO-8601 (RFC 3339 with offset, years 2000-2099), or epoch seconds or milliseconds in that range. */
const createdAt = {
  description:
    'When the teacher call happened: ISO-8601 with offset (years 2000-2099), or epoch seconds/milliseconds in that range. Defaults to the time received.',
  anyOf: [
    { type: 'string', pattern: ISO_TIME_PATTERN },
    { type: 'integer', minimum: EPOCH_SECONDS_RANGE[0], maximum: EPOCH_SECONDS_RANGE[1] },
    { type: 'integer', minimum: EPOCH_MILLIS_RANGE[0], maximum: EPOCH_MILLIS_RANGE[1] },
  ],
} as const;

export const feedbackFieldsSchema = {
  kind: { type: 'string', enum: ['accepted', 'rejected', 'edited', 'score'] },
  corrected_answer: text({ minLength: 1, maxLength: 200_000, description: 'Required when kind is "edited": the answer the user kept.' }),
  score: { type: 'number', minimum: 0, maximum: 1, description: 'Required when kind is "score".' },
} as const;
/** edited needs corrected_answer, score needs score (checkFeedback in src/interactions/record.ts). */
const feedbackKindRules = [
  { properties: { kind: { enum: ['accepted', 'rejected'] } } },
  { properties: { kind: { const: 'edited' } }, required: ['corrected_answer'] },
  { properties: { kind: { const: 'score' } }, required: ['score'] },
] as const;

const commonRecordFields = {
  idempotency_key: text({
    minLength: 1,
    maxLength: 256,
    description:
      'Unique per teacher call. Defaults to `response:<response.id>` (one of the two is required). Re-sending the same content is a harmless duplicate; reusing it for other content is a conflict.',
  }),
  created_at: createdAt,
  latency_ms: int4('milliseconds'),
  cost_usd: { type: 'number', minimum: 0, maximum: MAX_COST_USD, description: 'US dollars.' },
  metadata: { type: 'object', propertyNames: key, additionalProperties: json, description: 'Free-form; keep your own fields here.' },
  feedback: {
    type: 'object',
    required: ['kind'],
    additionalProperties: false,
    properties: feedbackFieldsSchema,
    anyOf: feedbackKindRules,
    description: 'Acceptance known at logging time (optional; can be posted later to /v1/feedback).',
  },
} as const;

/**
 * The chat-log shape's last message is the answer. JSON Schema cannot say "the last item", so the document spells
 * conversations out by length (up to CHATLOG_DOCUMENTED_MESSAGES); the server takes longer ones the same way.
 */
const CHATLOG_DOCUMENTED_MESSAGES = 6;
const chatLogMessages = {
  type: 'array',
  minItems: 2,
  description: 'The conversation (with a user message that has text); the last message is the assistant answer.',
  contains: userQuery,
  anyOf: Array.from({ length: CHATLOG_DOCUMENTED_MESSAGES - 1 }, (_, i) => ({
    minItems: i + 2,
    maxItems: i + 2,
    prefixItems: [...Array.from({ length: i + 1 }, () => message), answerMessage({ const: 'assistant' }, ['role'])],
  })),
} as const;

export const interactionRecordSchema = {
  description:
    'One teacher call. Either the OpenAI chat request and its ChatCompletion response, or the chat-log shape ' +
    '(`messages` ending with the assistant answer, as in fine-tuning files). Unknown fields inside messages and ' +
    'responses are kept; unknown top-level fields are rejected (put them under `metadata`). Every string and key ' +
    'must be storable (no U+0000, no unpaired surrogate: a 400 names the field).',
  oneOf: [
    {
      title: 'RequestResponse',
      type: 'object',
      required: ['request', 'response'],
      additionalProperties: false,
      anyOf: [{ required: ['idempotency_key'] }, { properties: { response: { required: ['id'], properties: { id: { minLength: 1 } } } } }],
      properties: {
        ...commonRecordFields,
        request: loose(
          { model: text({ minLength: 1 }), messages: { type: 'array', minItems: 1, items: message, contains: userQuery } },
          { required: ['model', 'messages'], description: 'The chat.completions.create parameters as sent to the teacher.' },
        ),
        response: loose(
          {
            id: text(),
            model: text(),
            choices: {
              type: 'array',
              minItems: 1,
              description: 'The first choice is the answer (text or tool calls).',
              prefixItems: [loose({ message: answerMessage({ enum: ['assistant'] }, []) }, { required: ['message'] })],
              items: loose(
                { message: loose({ role: { enum: ['assistant'] }, content, tool_calls: { type: 'array', items: json } }) },
                { required: ['message'] },
              ),
            },
            usage: { anyOf: [usage, { type: 'null' }] },
          },
          { required: ['choices'], description: 'The ChatCompletion the teacher returned.' },
        ),
      },
    },
    {
      title: 'ChatLog',
      type: 'object',
      // This shape has no response id to key on: over the API the caller names the key (imports default to file + line).
      required: ['messages', 'model', 'idempotency_key'],
      additionalProperties: false,
      properties: {
        ...commonRecordFields,
        model: text({ minLength: 1, description: 'The teacher model (required for this shape over the API).' }),
        messages: chatLogMessages,
        tools: {
          type: 'array',
          items: json,
          description: 'The tool schemas of a tool loop (`{type: "function", function: {name, parameters}}`), as in fine-tuning files.',
        },
        usage,
      },
    },
  ],
} as const;

/** Batch items are validated one by one (an invalid one is a per-item `invalid`), so the envelope takes any item. */
export const interactionBatchSchema = (maxItems: number) =>
  ({
    type: 'object',
    required: ['interactions'],
    additionalProperties: false,
    properties: {
      interactions: {
        type: 'array',
        maxItems,
        items: {
          description:
            'Any JSON value: each should be an InteractionRecord (see POST /v1/interactions); one that is not gets status `invalid` with the field at fault.',
        },
      },
    },
  }) as const;

export const feedbackItemSchema = {
  type: 'object',
  required: ['kind', 'interaction_key'],
  additionalProperties: false,
  description: "Names the interaction by its key (its idempotency key, as `key` in the interaction's response).",
  properties: {
    ...feedbackFieldsSchema,
    interaction_key: text({ minLength: 1, maxLength: 256 }),
    idempotency_key: text({
      minLength: 1,
      maxLength: 256,
      description:
        'Optional. Without it each post is its own event (feedback is a time series; the latest is the acceptance). Send one to make retries harmless.',
    }),
  },
  anyOf: feedbackKindRules,
} as const;

export const feedbackBodySchema = (maxItems: number) =>
  ({
    description: 'One feedback object, or `{ "feedback": [ ... ] }` for a batch.',
    oneOf: [
      feedbackItemSchema,
      {
        title: 'FeedbackBatch',
        type: 'object',
        required: ['feedback'],
        additionalProperties: false,
        properties: {
          feedback: {
            type: 'array',
            maxItems,
            items: { description: 'Any JSON value: each should be a feedback object; one that is not gets status `invalid`.' },
          },
        },
      },
    ],
  }) as const;

export const createdSchema = {
  type: 'object',
  required: ['key', 'status'],
  properties: {
    key: { type: 'string', description: "The record's key within your tenant (its idempotency key): no global ids are exposed." },
    status: { type: 'string', enum: ['stored', 'duplicate'] },
  },
} as const;

export const batchResultSchema = (statuses: readonly string[]) =>
  ({
    type: 'object',
    required: ['results', 'stored', 'duplicates', 'rejected'],
    properties: {
      results: {
        type: 'array',
        description: 'One entry per input item, in input order.',
        items: {
          type: 'object',
          required: ['index', 'status'],
          properties: {
            index: { type: 'integer', description: 'Position of the item in the request array.' },
            status: { type: 'string', enum: statuses },
            key: { type: 'string', description: "The item's key (its idempotency key); present for stored, duplicate and conflict." },
            error: { ...itemError, description: 'Present for every status other than stored and duplicate.' },
          },
        },
      },
      stored: { type: 'integer' },
      duplicates: { type: 'integer' },
      rejected: { type: 'integer', description: 'Items not stored: every status other than stored and duplicate.' },
    },
  }) as const;

export const err = (description: string) => ({ ...errorSchema, description });

/** 503 with Retry-After: the database (or Temporal, for review decisions) is away; nothing was written. */
export const unavailable = {
  ...err(
    'A dependency (the database; Temporal for review decisions) is unavailable (`field` is `(service)`). Nothing was written: retry the same request after `Retry-After` seconds.',
  ),
  headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } } },
};

export const readinessSchema = {
  type: 'object',
  required: ['ok', 'checks'],
  properties: {
    ok: { type: 'boolean' },
    checks: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Each dependency: `ok` or `down: <reason>`.',
      example: { database: 'ok', temporal: 'ok' },
    },
    error: errorSchema.properties.error,
  },
} as const;

/** Responses every authenticated POST can give besides its own. */
export const commonErrors = (limitBytes: number) => ({
  400: err('Invalid input: malformed JSON, body not valid UTF-8, not a JSON object, or a field failing validation.'),
  401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
  403: err('The API key lacks the `ingest` scope (`field` is `authorization`; the message names the scope).'),
  413: err(`Body larger than ${limitBytes} bytes.`),
  415: err('Content-Type is not application/json.'),
  500: err('Unexpected server error (`field` is `(server)`, message `internal error`). Writes are idempotent: retry the same request.'),
  503: unavailable,
});
