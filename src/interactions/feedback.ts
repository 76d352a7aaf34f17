import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { rowsOf } from '../db/client';
import { InputError, formatPath } from '../errors';
import { assertStorableStrings, boundedText, checkFeedback, contentHash, feedbackFields } from './record';

/** Feedback as posted: which interaction (by id or by its idempotency key), and the acceptance signal. */
export const feedbackInput = z.strictObject({
  ...feedbackFields.shape,
  interaction_id: z.number().int().positive().optional(),
  interaction_key: boundedText(256).optional(),
  idempotency_key: boundedText(256).optional(),
});
export type FeedbackInput = z.input<typeof feedbackInput>;

export interface FeedbackResult {
  status: 'stored' | 'duplicate' | 'conflict' | 'not_found' | 'invalid';
  id?: number;
  error?: { field: string; message: string };
}

export function parseFeedback(input: unknown, field = ''): z.infer<typeof feedbackInput> {
  assertStorableStrings(input, field);
  const parsed = feedbackInput.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(formatPath(issue.path, field), issue.message);
  }
  const f = checkFeedback(parsed.data, field);
  if ((f.interaction_id === undefined) === (f.interaction_key === undefined)) {
    throw new InputError(field ? `${field}.interaction_key` : 'interaction_key', 'name the interaction by exactly one of interaction_id or interaction_key');
  }
  return f;
}

/**
 * Records feedback for one tenant. Only that tenant's interactions can be named: another tenant's id is `not_found`.
 * Without an idempotency_key each call is its own event (a fresh key): feedback is a time series whose latest entry
 * is the acceptance, so accept → reject → accept must store all three. (A key derived from the content made the
 * third a "duplicate" of the first and left the acceptance `rejected`.) Callers that retry send their own key.
 */
export async function recordFeedback(db: Db, tenantId: string, source: string, items: Array<z.infer<typeof feedbackInput>>): Promise<FeedbackResult[]> {
  return db.transaction(async (tx) => {
    const out: FeedbackResult[] = [];
    for (const f of items) {
      const target = rowsOf<{ id: string | number }>(
        await tx.execute(
          f.interaction_id !== undefined
            ? sql`select id from interactions where tenant_id = ${tenantId} and id = ${f.interaction_id}`
            : sql`select id from interactions where tenant_id = ${tenantId} and idempotency_key = ${f.interaction_key}`,
        ),
      )[0];
      if (!target) {
        out.push({ status: 'not_found', error: { field: f.interaction_id !== undefined ? 'interaction_id' : 'interaction_key', message: 'no interaction with this reference for your tenant' } });
        continue;
      }
      const interactionId = Number(target.id);
      const hash = contentHash({ i: interactionId, kind: f.kind, ca: f.corrected_answer ?? null, s: f.score ?? null });
      const key = f.idempotency_key ?? `event:${randomUUID()}`;
      const rows = rowsOf<{ id: string | number; content_hash: string; inserted: boolean }>(
        await tx.execute(sql`
          with ins as (
            insert into feedback (tenant_id, interaction_id, idempotency_key, content_hash, kind, corrected_answer, score, source)
            values (${tenantId}, ${interactionId}, ${key}, ${hash}, ${f.kind}, ${f.corrected_answer ?? null}, ${f.score ?? null}, ${source})
            on conflict (tenant_id, idempotency_key) do nothing
            returning id, content_hash)
          select id, content_hash, true as inserted from ins
          union all
          select id, content_hash, false from feedback where tenant_id = ${tenantId} and idempotency_key = ${key} and not exists (select 1 from ins)`),
      );
      // Empty when a concurrent transaction inserted the same key after this statement's snapshot: look again.
      const row =
        rows[0] ??
        rowsOf<{ id: string | number; content_hash: string; inserted: boolean }>(
          await tx.execute(sql`select id, content_hash, false as inserted from feedback where tenant_id = ${tenantId} and idempotency_key = ${key}`),
        )[0]!;
      out.push({
        status: row.inserted ? 'stored' : row.content_hash === hash ? 'duplicate' : 'conflict',
        id: Number(row.id),
        ...(!row.inserted && row.content_hash !== hash ? { error: { field: 'idempotency_key', message: 'already used for different feedback; use a new key' } } : {}),
      });
    }
    return out;
  });
}
