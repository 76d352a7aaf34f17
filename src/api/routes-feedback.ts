import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { InputError, ConflictError, NotFoundError } from '../errors';
import { type FeedbackResult, parseFeedback, recordFeedback } from '../interactions/feedback';
import { batchResultSchema, commonErrors, createdSchema, err, feedbackBodySchema } from './schemas';
import { type ItemResult, SOURCE, batchItems, isPlainObject, summarize } from './routes-interactions';

type Parsed = ReturnType<typeof parseFeedback>;

export function feedbackRoutes(app: FastifyInstance, deps: { db: Db; api: Config['api'] }): void {
  const { db, api } = deps;
  const record = (tenantId: string, items: Parsed[]) => recordFeedback(db, tenantId, SOURCE, items);

  app.post(
    '/v1/feedback',
    {
      config: { scope: 'ingest' },
      schema: {
        tags: ['feedback'],
        summary: 'Record whether interactions were accepted',
        description:
          `Body: one feedback object, or \`{ "feedback": [ ... ] }\` (at most ${api.batchMaxItems} items). ` +
          'Only your own interactions can be named (by `interaction_key`); any other key is `not_found`. Without an idempotency_key each ' +
          'post is its own event (the latest feedback is the acceptance); send a key to make retries harmless. ' +
          'Single object: 201 stored, 200 duplicate, 404 not_found, 409 conflict (idempotency_key reused for other feedback), 400 invalid. ' +
          'Batch: 200 with per-item results in input order (stored, duplicate, conflict, not_found, invalid with ' +
          '`error.field` such as `feedback[2].score`); invalid items never block valid ones; `rejected` counts every status ' +
          'but stored and duplicate.',
        body: feedbackBodySchema(api.batchMaxItems),
        response: {
          201: { ...createdSchema, description: 'Single feedback stored.' },
          200: {
            description: 'Single feedback already stored (duplicate), or the per-item results of a batch.',
            oneOf: [createdSchema, batchResultSchema(['stored', 'duplicate', 'conflict', 'not_found', 'invalid'])],
          },
          ...commonErrors(api.bodyLimitBytes),
          404: err('Single feedback: no interaction with this key for your tenant.'),
          409: err('Single feedback: idempotency_key already used for different feedback.'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (isPlainObject(body) && 'feedback' in body) {
        const items = batchItems(body, 'feedback', api.batchMaxItems, '{ "feedback": [ ... ] }');
        const results: ItemResult[] = new Array(items.length);
        const valid: Parsed[] = [];
        const validIndex: number[] = [];
        for (let i = 0; i < items.length; i++) {
          try {
            valid.push(parseFeedback(items[i], `feedback[${i}]`));
            validIndex.push(i);
          } catch (e) {
            if (!(e instanceof InputError)) throw e;
            results[i] = { index: i, status: 'invalid', error: { field: e.field, message: e.reason } };
          }
        }
        const recorded = valid.length ? await record(request.tenantId, valid) : [];
        recorded.forEach((r, j) => {
          const index = validIndex[j]!;
          results[index] = itemResult(index, r);
        });
        return summarize(results);
      }

      const f = parseFeedback(body, '');
      const [r] = await record(request.tenantId, [f]);
      if (!r) throw new Error('recordFeedback returned no result');
      switch (r.status) {
        case 'stored':
        case 'duplicate':
          reply.code(r.status === 'stored' ? 201 : 200);
          return { key: r.key, status: r.status };
        case 'not_found':
          throw new NotFoundError(r.error?.field ?? 'interaction_key', r.error?.message ?? 'no interaction with this key for your tenant');
        case 'conflict':
          throw new ConflictError(r.error?.field ?? 'idempotency_key', r.error?.message ?? 'already used for different feedback; use a new key');
        default:
          throw new InputError(r.error?.field ?? '(body)', r.error?.message ?? 'invalid feedback');
      }
    },
  );
}

function itemResult(index: number, r: FeedbackResult): ItemResult {
  const out: ItemResult = { index, status: r.status };
  if (r.key !== undefined) out.key = r.key;
  if (r.error) out.error = { field: `feedback[${index}].${r.error.field}`, message: r.error.message };
  return out;
}
