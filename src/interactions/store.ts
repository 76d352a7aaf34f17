import { and, eq, inArray, sql } from 'drizzle-orm';
import { interactions } from '../db/schema';
import type { Db } from '../db/client';
import { rowsOf } from '../db/client';
import type { InteractionRow } from './record';

export type StoreStatus = 'stored' | 'duplicate' | 'conflict';
export interface StoreResult {
  status: StoreStatus;
  id: number;
  idempotencyKey: string;
}

/**
 * Inserts interactions for one tenant in one statement, idempotent on (tenant, idempotency key): a key seen before
 * with the same content hash is a `duplicate` (a harmless retry), with another hash a `conflict` (nothing written).
 * Inline feedback of stored/duplicate rows is inserted in the same transaction. Results come back in input order.
 * The batch travels as one JSON document (jsonb_to_recordset): one round trip, and it works the same on PGlite.
 */
export async function insertInteractions(db: Db, tenantId: string, source: string, rows: InteractionRow[]): Promise<StoreResult[]> {
  if (rows.length === 0) return [];
  return db.transaction(async (tx) => insertInteractionsTx(tx as unknown as Db, tenantId, source, rows));
}

/** The same, inside a caller's transaction (the ingest checkpoint commits with the rows). */
export async function insertInteractionsTx(tx: Db, tenantId: string, source: string, rows: InteractionRow[]): Promise<StoreResult[]> {
  if (rows.length === 0) return [];
  // Key order makes concurrent batches take row locks in the same order, so overlapping batches cannot deadlock.
  const ordered = [...rows].sort((a, b) => (a.idempotencyKey < b.idempotencyKey ? -1 : a.idempotencyKey > b.idempotencyKey ? 1 : 0));
  const payload = JSON.stringify(
    ordered.map((r) => ({
      k: r.idempotencyKey,
      h: r.contentHash,
      t: r.occurredAt,
      m: r.teacherModel,
      msg: r.messages,
      p: r.requestParams,
      r: r.response,
      q: r.queryText,
      a: r.answerText,
      pt: r.promptTokens,
      ct: r.completionTokens,
      c: r.costUsd,
      l: r.latencyMs,
      md: r.metadata,
    })),
  );
  const existing = rowsOf<{ id: string | number; idempotency_key: string; content_hash: string; inserted: boolean }>(
    await tx.execute(sql`
      with input as (
        select * from jsonb_to_recordset(${payload}::jsonb) as x(
          k text, h text, t timestamptz, m text, msg jsonb, p jsonb, r jsonb, q text, a text,
          pt integer, ct integer, c double precision, l integer, md jsonb)
      ), ins as (
        insert into interactions (tenant_id, idempotency_key, content_hash, source, occurred_at, teacher_model, messages,
          request_params, response, query_text, answer_text, prompt_tokens, completion_tokens, cost_usd, latency_ms, metadata)
        select ${tenantId}, k, h, ${source}, t, m, msg, p, r, q, a, pt, ct, c, l, md from input
        on conflict (tenant_id, idempotency_key) do nothing
        returning id, idempotency_key, content_hash
      )
      select id, idempotency_key, content_hash, true as inserted from ins
      union all
      select i.id, i.idempotency_key, i.content_hash, false from interactions i
      where i.tenant_id = ${tenantId} and i.idempotency_key in (select k from input)
        and i.idempotency_key not in (select idempotency_key from ins)`),
  );
  const byKey = new Map(existing.map((e) => [e.idempotency_key, e]));
  // A key inserted by a concurrent transaction that committed while this statement waited on it is skipped by
  // ON CONFLICT but invisible to the statement's snapshot; a new statement sees it.
  const unseen = [...new Set(rows.map((r) => r.idempotencyKey).filter((k) => !byKey.has(k)))];
  if (unseen.length) {
    const late = await tx
      .select({ id: interactions.id, key: interactions.idempotencyKey, hash: interactions.contentHash })
      .from(interactions)
      .where(and(eq(interactions.tenantId, tenantId), inArray(interactions.idempotencyKey, unseen)));
    for (const e of late) byKey.set(e.key, { id: e.id, idempotency_key: e.key, content_hash: e.hash, inserted: false });
  }
  const claimed = new Set<string>();
  const results = rows.map((r): StoreResult => {
    const e = byKey.get(r.idempotencyKey)!;
    const id = Number(e.id);
    // The first occurrence of a key in a freshly inserted batch is the stored one; repeats within the batch are retries.
    if (e.inserted && !claimed.has(r.idempotencyKey)) {
      claimed.add(r.idempotencyKey);
      return { status: 'stored', id, idempotencyKey: r.idempotencyKey };
    }
    return { status: e.content_hash === r.contentHash ? 'duplicate' : 'conflict', id, idempotencyKey: r.idempotencyKey };
  });
  const inline = rows.flatMap((r, i) =>
    r.feedback && results[i]!.status !== 'conflict'
      ? [{ i: results[i]!.id, k: `inline:${r.idempotencyKey}`, h: r.contentHash, kind: r.feedback.kind, ca: r.feedback.corrected_answer ?? null, s: r.feedback.score ?? null }]
      : [],
  );
  if (inline.length) {
    await tx.execute(sql`
      insert into feedback (tenant_id, interaction_id, idempotency_key, content_hash, kind, corrected_answer, score, source)
      select ${tenantId}, i, k, h, kind, ca, s, ${source}
      from jsonb_to_recordset(${JSON.stringify(inline)}::jsonb) as x(i bigint, k text, h text, kind text, ca text, s real)
      on conflict (tenant_id, idempotency_key) do nothing`);
  }
  return results;
}
