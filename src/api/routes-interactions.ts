import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { ConflictError, InputError } from '../errors';
import { type InteractionRow, normalizeRecord } from '../interactions/record';
import { insertInteractions } from '../interactions/store';
import { batchResultSchema, commonErrors, createdSchema, err, interactionBatchSchema, interactionRecordSchema } from './schemas';

export const SOURCE = 'api';

export interface ItemResult {
  index: number;
  status: string;
  /** The record's idempotency key: its identity within the tenant (internal ids come from a global sequence). */
  key?: string;
  error?: { field: string; message: string };
}

export interface BatchResponse {
  results: ItemResult[];
  stored: number;
  duplicates: number;
  rejected: number;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a batch envelope `{ "<name>": [ ... ] }` and returns the items; throws InputError naming the field. */
export function batchItems(body: unknown, name: string, maxItems: number, example: string): unknown[] {
  if (!isPlainObject(body)) throw new InputError('(body)', `must be a JSON object: ${example}`);
  for (const k of Object.keys(body)) {
    if (k !== name) throw new InputError(k, `unknown field: the body is ${example}`);
  }
  const items = body[name];
  if (!Array.isArray(items)) throw new InputError(name, items === undefined ? `required: ${example}` : `must be an array: ${example}`);
  if (items.length > maxItems) {
    throw new InputError(name, `too many items (${items.length}): send at most ${maxItems} per request and split the rest into further requests`);
  }
  return items;
}

export function summarize(results: ItemResult[]): BatchResponse {
  let stored = 0;
  let duplicates = 0;
  for (const r of results) {
    if (r.status === 'stored') stored++;
    else if (r.status === 'duplicate') duplicates++;
  }
  return { results, stored, duplicates, rejected: results.length - stored - duplicates };
}

const conflictMessage = (key: string) =>
  `"${key}" was already used for a different interaction; use a new idempotency_key (or resend exactly the original content)`;

export function interactionRoutes(app: FastifyInstance, deps: { db: Db; api: Config['api'] }): void {
  const { db, api } = deps;
  const errors = commonErrors(api.bodyLimitBytes);
  const store = (tenantId: string, rows: InteractionRow[]) => insertInteractions(db, tenantId, SOURCE, rows);

  app.post(
    '/v1/interactions',
    {
      config: { scope: 'ingest' },
      schema: {
        tags: ['interactions'],
        summary: 'Log one teacher interaction',
        description:
          'Stores one teacher call, idempotently: the idempotency key is `idempotency_key`, else `response:<response.id>`. ' +
          "The answer's `key` is that key, the interaction's identity for feedback (`interaction_key`). " +
          'A retry with the same content returns 200 `duplicate`; the same key with different content returns 409 and writes nothing. ' +
          'Inline `feedback` is stored with the interaction. For many records use POST /v1/interactions/batch.',
        body: interactionRecordSchema,
        response: {
          201: { ...createdSchema, description: 'Stored.' },
          200: { ...createdSchema, description: 'Already stored with the same content (a retry); nothing written.' },
          ...errors,
          409: err('The idempotency key was used before for different content (`field` is `idempotency_key`); nothing written.'),
        },
      },
    },
    async (request, reply) => {
      const row = normalizeRecord(request.body, {}, '');
      const [result] = await store(request.tenantId, [row]);
      if (!result) throw new Error('insertInteractions returned no result');
      if (result.status === 'conflict') throw new ConflictError('idempotency_key', conflictMessage(result.idempotencyKey));
      reply.code(result.status === 'stored' ? 201 : 200);
      return { key: result.idempotencyKey, status: result.status };
    },
  );

  app.post(
    '/v1/interactions/batch',
    {
      config: { scope: 'ingest' },
      schema: {
        tags: ['interactions'],
        summary: 'Log many teacher interactions',
        description:
          `Per-item results: each item is validated and stored on its own, so invalid items never block valid ones. ` +
          `The response is 200 whenever the envelope is valid, with one result per item in input order: ` +
          `\`stored\` (new), \`duplicate\` (same key and content seen before, or repeated earlier in this batch), ` +
          `\`conflict\` (key already used for different content; nothing written for the item) or ` +
          `\`invalid\` (\`error.field\` is a path such as \`interactions[3].request.messages\`). ` +
          `\`rejected\` counts conflict + invalid. All valid items are written in one statement and one transaction. ` +
          `At most ${api.batchMaxItems} items and ${api.bodyLimitBytes} bytes per request; a bad envelope ` +
          `(not an object, \`interactions\` missing or too long) is a 400 and nothing is written.`,
        body: interactionBatchSchema(api.batchMaxItems),
        response: {
          200: { ...batchResultSchema(['stored', 'duplicate', 'conflict', 'invalid']), description: 'Per-item results.' },
          ...errors,
        },
      },
    },
    async (request) => {
      const items = batchItems(request.body, 'interactions', api.batchMaxItems, '{ "interactions": [ ... ] }');
      const now = new Date();
      const results: ItemResult[] = new Array(items.length);
      const rows: InteractionRow[] = [];
      const rowIndex: number[] = [];
      for (let i = 0; i < items.length; i++) {
        try {
          rows.push(normalizeRecord(items[i], { now }, `interactions[${i}]`));
          rowIndex.push(i);
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
          results[i] = { index: i, status: 'invalid', error: { field: e.field, message: e.reason } };
        }
      }
      const stored = rows.length ? await store(request.tenantId, rows) : [];
      stored.forEach((r, j) => {
        const index = rowIndex[j]!;
        results[index] =
          r.status === 'conflict'
            ? {
                index,
                status: 'conflict',
                key: r.idempotencyKey,
                error: { field: `interactions[${index}].idempotency_key`, message: conflictMessage(r.idempotencyKey) },
              }
            : { index, status: r.status, key: r.idempotencyKey };
      });
      return summarize(results);
    },
  );
}
