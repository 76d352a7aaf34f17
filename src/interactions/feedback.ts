import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { rowsOf } from '../db/client';
import { InputError, formatPath } from '../errors';
import { checkFeedback, contentHash, feedbackFields } from './record';

/**
 * Feedback as posted: which interaction (by its idempotency key: interactions' internal ids come from one global
 * sequence and never leave the server), and the acceptance signal.
 */
export const feedbackInput = z.strictObject({
  ...feedbackFields.shape,
  interaction_key: z
    .string({ error: (iss) => (iss.input === undefined ? 'required: the interaction\'s key (its idempotency key, `key` in its response)' : 'must be a string') })
    .min(1)
    .max(256),
  idempotency_key: z.string().min(1).max(256).optional(),
});
export type FeedbackInput = z.input<typeof feedbackInput>;

export interface FeedbackResult {
  status: 'stored' | 'duplicate' | 'conflict' | 'not_found' | 'invalid';
  /** The feedback's idempotency key (its identity within the tenant). */
  key?: string;
  error?: { field: string; message: string };
}

export function parseFeedback(input: unknown, field = ''): z.infer<typeof feedbackInput> {
  // reportInput: issues carry the offending value, which tells "missing" from "wrong type".
  const parsed = feedbackInput.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(formatPath(issue.path, field), issue.message);
  }
  return checkFeedback(parsed.data, field);
}

/**
 * Records feedback for one tenant. Only that tenant's interactions can be named: another tenant's id is `not_found`.
 * Without an idempotency_key the key is derived from the content, so posting the same feedback twice stores it once.
 */
export async function recordFeedback(db: Db, tenantId: string, source: string, items: Array<z.infer<typeof feedbackInput>>): Promise<FeedbackResult[]> {
  return db.transaction(async (tx) => {
    const out: FeedbackResult[] = [];
    for (const f of items) {
      const target = rowsOf<{ id: string | number }>(
        await tx.execute(sql`select id from interactions where tenant_id = ${tenantId} and idempotency_key = ${f.interaction_key}`),
      )[0];
      if (!target) {
        out.push({ status: 'not_found', error: { field: 'interaction_key', message: 'no interaction with this key for your tenant' } });
        continue;
      }
      const interactionId = Number(target.id);
      const hash = contentHash({ i: interactionId, kind: f.kind, ca: f.corrected_answer ?? null, s: f.score ?? null });
      const key = f.idempotency_key ?? `derived:${hash}`;
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
        key,
        ...(!row.inserted && row.content_hash !== hash ? { error: { field: 'idempotency_key', message: 'already used for different feedback; use a new key' } } : {}),
      });
    }
    return out;
  });
}
