/**
 * JSON schemas of the HTTP API, for the OpenAPI document only. Requests are NOT validated against these: the routes
 * run the same zod-based functions as the SDK and the file import (normalizeRecord, parseFeedback), so a bad field
 * gets the same message everywhere. Keep these in step with src/interactions/record.ts and feedback.ts.
 */

export const errorSchema = {
  type: 'object',
  description: 'Every 4xx/5xx response has this shape. `field` names the input at fault as a JSON path into the body ' +
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

const content = {
  description: 'A string, an array of content parts ({type, text}), or null.',
  anyOf: [
    { type: 'string' },
    { type: 'array', items: { type: 'object', required: ['type'], properties: { type: { type: 'string' }, text: { type: 'string' } }, additionalProperties: true } },
    { type: 'null' },
  ],
} as const;

const message = {
  type: 'object',
  required: ['role'],
  additionalProperties: true,
  properties: {
    role: { type: 'string', enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
    content,
  },
} as const;

const usage = {
  type: 'object',
  additionalProperties: true,
  properties: { prompt_tokens: { type: 'integer', minimum: 0 }, completion_tokens: { type: 'integer', minimum: 0 } },
} as const;

export const feedbackFieldsSchema = {
  kind: { type: 'string', enum: ['accepted', 'rejected', 'edited', 'score'] },
  corrected_answer: { type: 'string', minLength: 1, maxLength: 200_000, description: 'Required when kind is "edited": the answer the user kept.' },
  score: { type: 'number', minimum: 0, maximum: 1, description: 'Required when kind is "score".' },
} as const;

const commonRecordFields = {
  idempotency_key: {
    type: 'string',
    minLength: 1,
    maxLength: 256,
    description: 'Unique per teacher call. Defaults to `response:<response.id>`. Re-sending the same content is a harmless duplicate; reusing it for other content is a conflict.',
  },
  created_at: {
    description: 'When the teacher call happened: ISO-8601 with offset, or epoch seconds/milliseconds. Defaults to the time received.',
    anyOf: [{ type: 'string', format: 'date-time' }, { type: 'integer', minimum: 1 }],
  },
  latency_ms: { type: 'integer', minimum: 0 },
  cost_usd: { type: 'number', minimum: 0 },
  metadata: { type: 'object', additionalProperties: true, description: 'Free-form; keep your own fields here.' },
  feedback: {
    type: 'object',
    required: ['kind'],
    additionalProperties: false,
    properties: feedbackFieldsSchema,
    description: 'Acceptance known at logging time (optional; can be posted later to /v1/feedback).',
  },
} as const;

export const interactionRecordSchema = {
  description:
    'One teacher call. Either the OpenAI chat request and its ChatCompletion response, or the chat-log shape ' +
    '(`messages` ending with the assistant answer, as in fine-tuning files). Unknown fields inside messages and ' +
    'responses are kept; unknown top-level fields are rejected (put them under `metadata`).',
  oneOf: [
    {
      title: 'RequestResponse',
      type: 'object',
      required: ['request', 'response'],
      additionalProperties: false,
      properties: {
        ...commonRecordFields,
        request: {
          type: 'object',
          required: ['model', 'messages'],
          additionalProperties: true,
          description: 'The chat.completions.create parameters as sent to the teacher.',
          properties: { model: { type: 'string', minLength: 1 }, messages: { type: 'array', minItems: 1, items: message } },
        },
        response: {
          type: 'object',
          required: ['choices'],
          additionalProperties: true,
          description: 'The ChatCompletion the teacher returned.',
          properties: {
            id: { type: 'string' },
            model: { type: 'string' },
            choices: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['message'],
                additionalProperties: true,
                properties: {
                  message: {
                    type: 'object',
                    additionalProperties: true,
                    properties: { role: { type: 'string', enum: ['assistant'] }, content, tool_calls: { type: 'array', items: {} } },
                  },
                },
              },
            },
            usage: { anyOf: [usage, { type: 'null' }] },
          },
        },
      },
    },
    {
      title: 'ChatLog',
      type: 'object',
      required: ['messages'],
      additionalProperties: false,
      properties: {
        ...commonRecordFields,
        model: { type: 'string', minLength: 1, description: 'The teacher model (required for this shape over the API).' },
        messages: { type: 'array', minItems: 2, items: message, description: 'The conversation; the last message is the assistant answer.' },
        usage,
      },
    },
  ],
} as const;

export const interactionBatchSchema = (maxItems: number) =>
  ({
    type: 'object',
    required: ['interactions'],
    additionalProperties: false,
    properties: { interactions: { type: 'array', maxItems, items: interactionRecordSchema } },
  }) as const;

export const feedbackItemSchema = {
  type: 'object',
  required: ['kind', 'interaction_key'],
  additionalProperties: false,
  description: 'Names the interaction by its key (its idempotency key, as `key` in the interaction\'s response).',
  properties: {
    ...feedbackFieldsSchema,
    interaction_key: { type: 'string', minLength: 1, maxLength: 256 },
    idempotency_key: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'Optional; without it the key is derived from the content, so the same feedback posted twice is stored once.',
    },
  },
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
        properties: { feedback: { type: 'array', maxItems, items: feedbackItemSchema } },
      },
    ],
  }) as const;

export const createdSchema = {
  type: 'object',
  required: ['key', 'status'],
  properties: {
    key: { type: 'string', description: 'The record\'s key within your tenant (its idempotency key): no global ids are exposed.' },
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
            key: { type: 'string', description: 'The item\'s key (its idempotency key); present for stored, duplicate and conflict.' },
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

/** Responses every authenticated POST can give besides its own. */
export const commonErrors = (limitBytes: number) => ({
  400: err('Invalid input: malformed JSON, body not valid UTF-8, not a JSON object, or a field failing validation.'),
  401: err('Missing, unknown or revoked API key (`field` is `authorization`).'),
  403: err('The API key lacks the `ingest` scope (`field` is `authorization`; the message names the scope).'),
  413: err(`Body larger than ${limitBytes} bytes.`),
  415: err('Content-Type is not application/json.'),
  500: err('Unexpected server error (`field` is `(server)`, message `internal error`). Writes are idempotent: retry the same request.'),
});
