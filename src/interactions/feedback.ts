import { z } from 'zod';
import type { Db } from '../db/client';
import { InputError, formatPath } from '../errors';
import { checkFeedback, contentHash, feedbackFields } from './record';
import { findInteraction, insertFeedback } from './store';

/** Feedback as posted: which interaction (by id or by its idempotency key), and the acceptance signal. */
export const feedbackInput = z.strictObject({
  ...feedbackFields.shape,
  interaction_id: z.number().int().positive().optional(),
  interaction_key: z.string().min(1).max(256).optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
});
export type FeedbackInput = z.input<typeof feedbackInput>;

export interface FeedbackResult {
  status: 'stored' | 'duplicate' | 'conflict' | 'not_found' | 'invalid';
  id?: number;
  error?: { field: string; message: string };
}

export function parseFeedback(input: unknown, field = ''): z.infer<typeof feedbackInput> {
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
 * Without an idempotency_key the key is derived from the content, so posting the same feedback twice stores it once.
 */
export async function recordFeedback(db: Db, tenantId: string, source: string, items: Array<z.infer<typeof feedbackInput>>): Promise<FeedbackResult[]> {
  return db.transaction(async (tx) => {
    const out: FeedbackResult[] = [];
    for (const f of items) {
      const interactionId = await findInteraction(tx, tenantId, f.interaction_id !== undefined ? { id: f.interaction_id } : { key: f.interaction_key! });
      if (interactionId === undefined) {
        out.push({ status: 'not_found', error: { field: f.interaction_id !== undefined ? 'interaction_id' : 'interaction_key', message: 'no interaction with this reference for your tenant' } });
        continue;
      }
      const hash = contentHash({ i: interactionId, kind: f.kind, ca: f.corrected_answer ?? null, s: f.score ?? null });
      const key = f.idempotency_key ?? `derived:${hash}`;
      const row = await insertFeedback(tx, { tenantId, interactionId, idempotencyKey: key, contentHash: hash, kind: f.kind, correctedAnswer: f.corrected_answer ?? null, score: f.score ?? null, source });
      out.push({
        status: row.inserted ? 'stored' : row.content_hash === hash ? 'duplicate' : 'conflict',
        id: Number(row.id),
        ...(!row.inserted && row.content_hash !== hash ? { error: { field: 'idempotency_key', message: 'already used for different feedback; use a new key' } } : {}),
      });
    }
    return out;
  });
}
