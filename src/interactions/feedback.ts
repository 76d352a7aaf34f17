import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../db/client';
import { InputError, formatPath } from '../errors';
import { assertStorableStrings, boundedText, checkFeedback, contentHash, feedbackFields } from './record';
import { findInteraction, insertFeedback } from './store';

/**
 * Feedback as posted: which interaction (by its idempotency key: interactions' internal ids come from one global
 * sequence and never leave the server), and the acceptance signal.
 */
export const feedbackInput = z.strictObject({
  ...feedbackFields.shape,
  interaction_key: boundedText(256, {
    error: (iss: { input?: unknown }) =>
      iss.input === undefined ? "required: the interaction's key (its idempotency key, `key` in its response)" : 'must be a string',
  }),
  idempotency_key: boundedText(256).optional(),
});
export type FeedbackInput = z.input<typeof feedbackInput>;

export interface FeedbackResult {
  status: 'stored' | 'duplicate' | 'conflict' | 'not_found' | 'invalid';
  /** The feedback's idempotency key (its identity within the tenant). */
  key?: string;
  error?: { field: string; message: string };
}

export function parseFeedback(input: unknown, field = ''): z.infer<typeof feedbackInput> {
  assertStorableStrings(input, field);
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
 * Without an idempotency_key each call is its own event (a fresh key): feedback is a time series whose latest entry
 * is the acceptance, so accept → reject → accept must store all three. (A key derived from the content made the
 * third a "duplicate" of the first and left the acceptance `rejected`.) Callers that retry send their own key.
 */
export async function recordFeedback(db: Db, tenantId: string, source: string, items: Array<z.infer<typeof feedbackInput>>): Promise<FeedbackResult[]> {
  return db.transaction(async (tx) => {
    const out: FeedbackResult[] = [];
    for (const f of items) {
      const interactionId = await findInteraction(tx, tenantId, { key: f.interaction_key });
      if (interactionId === undefined) {
        out.push({ status: 'not_found', error: { field: 'interaction_key', message: 'no interaction with this key for your tenant' } });
        continue;
      }
      const hash = contentHash({ i: interactionId, kind: f.kind, ca: f.corrected_answer ?? null, s: f.score ?? null });
      const key = f.idempotency_key ?? `event:${randomUUID()}`;
      const row = await insertFeedback(tx, {
        tenantId,
        interactionId,
        idempotencyKey: key,
        contentHash: hash,
        kind: f.kind,
        correctedAnswer: f.corrected_answer ?? null,
        score: f.score ?? null,
        source,
      });
      out.push({
        status: row.inserted ? 'stored' : row.content_hash === hash ? 'duplicate' : 'conflict',
        key,
        ...(!row.inserted && row.content_hash !== hash
          ? { error: { field: 'idempotency_key', message: 'already used for different feedback; use a new key' } }
          : {}),
      });
    }
    return out;
  });
}
