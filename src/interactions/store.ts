import { type SQL, and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { rowsOf } from '../db/client';
import { interactions } from '../db/schema';
import type { FeedbackKind } from '../vocabulary';
import type { InteractionRow } from './record';

/**
 * THE acceptance rule, in its two forms (a unit test checks they agree): an interaction counts as accepted when its
 * latest feedback is `accepted`, `edited`, or a `score` of at least 0.5. No feedback, `rejected`, or a lower (or
 * missing) score is not accepted. Clustering (--accepted-only), graduation, datasets and the publish replay all
 * decide with it.
 */
export const ACCEPT_MIN_SCORE = 0.5;

export function isAccepted(latest: { kind: FeedbackKind | null; score: number | null } | null | undefined): boolean {
  if (!latest) return false;
  return latest.kind === 'accepted' || latest.kind === 'edited' || (latest.kind === 'score' && latest.score !== null && latest.score >= ACCEPT_MIN_SCORE);
}

/** The rule over a row with `kind` and `score` columns under `alias` (true or false, never null). */
export function acceptedSql(alias = 'f'): SQL {
  const f = sql.raw(alias);
  return sql`coalesce(${f}.kind in ('accepted','edited') or (${f}.kind = 'score' and ${f}.score >= ${sql.raw(String(ACCEPT_MIN_SCORE))}), false)`;
}

/**
 * An interaction's latest feedback row (kind, score, corrected_answer), for `join lateral … f on true` (only
 * interactions with feedback) or `left join lateral` (all). Latest = newest, ties broken by id: later rows overrule.
 */
export function latestFeedbackSql(interactionId: SQL): SQL {
  return sql`(select kind, score, corrected_answer from feedback f where f.interaction_id = ${interactionId} order by f.created_at desc, f.id desc limit 1)`;
}

/** A condition on an interaction id: its latest feedback accepts it (see isAccepted). */
export function acceptedInteractionSql(interactionId: SQL): SQL {
  return sql`coalesce((select ${acceptedSql('lf')} from ${latestFeedbackSql(interactionId)} lf), false)`;
}

export type StoreStatus = 'stored' | 'duplicate' | 'conflict';
export interface StoreResult {
  status: StoreStatus;
  id: number;
  idempotencyKey: string;
}

/**
 * Inserts interactions for one tenant, idempotent on (tenant, idempotency key): a key seen before with the same
 * content hash is a `duplicate` (a harmless retry), with another hash a `conflict` (nothing written). Results come
 * back in input order.
 *
 * One statement does the work, so it is atomic without a transaction and costs one round trip: the batch travels
 * as one JSON document (jsonb_to_recordset, which PGlite runs too), new rows are inserted, and the inline feedback
 * of the new rows is inserted in the same statement. (A duplicate needs no feedback insert: feedback is part of the
 * content hash, so the first write already stored it.) Keys the insert skipped are then looked up by index.
 * `db` may be a transaction (the ingest checkpoint commits with its rows).
 */
export async function insertInteractions(db: Db, tenantId: string, source: string, rows: InteractionRow[]): Promise<StoreResult[]> {
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
      fk: r.feedback?.kind ?? null,
      fca: r.feedback?.corrected_answer ?? null,
      fs: r.feedback?.score ?? null,
    })),
  );
  const withFeedback = rows.some((r) => r.feedback);
  // `input` referenced once is inlined by Postgres; referenced twice (for inline feedback) it is materialised, which
  // costs a copy of the whole batch: so the feedback insert is only part of the statement when a row carries feedback.
  const feedbackInsert = withFeedback
    ? sql`, fb as (
        insert into feedback (tenant_id, interaction_id, idempotency_key, content_hash, kind, corrected_answer, score, source)
        select ${tenantId}, ins.id, 'inline:' || ins.idempotency_key, ins.content_hash, input.fk, input.fca, input.fs, ${source}
        from ins join input on input.k = ins.idempotency_key and input.h = ins.content_hash
        where input.fk is not null
        on conflict (tenant_id, idempotency_key) do nothing)`
    : sql``;
  const inserted = rowsOf<{ id: string | number; idempotency_key: string }>(
    await db.execute(sql`
      with input as (
        select * from jsonb_to_recordset(${payload}::jsonb) as x(
          k text, h text, t timestamptz, m text, msg jsonb, p jsonb, r jsonb, q text, a text,
          pt integer, ct integer, c double precision, l integer, md jsonb, fk text, fca text, fs real)
      ), ins as (
        insert into interactions (tenant_id, idempotency_key, content_hash, source, occurred_at, teacher_model, messages,
          request_params, response, query_text, answer_text, prompt_tokens, completion_tokens, cost_usd, latency_ms, metadata)
        select ${tenantId}, k, h, ${source}, t, m, msg, p, r, q, a, pt, ct, c, l, md from input
        on conflict (tenant_id, idempotency_key) do nothing
        returning id, idempotency_key, content_hash
      )${feedbackInsert}
      select id, idempotency_key from ins`),
  );
  const insertedIds = new Map(inserted.map((e) => [e.idempotency_key, Number(e.id)]));
  // Keys the insert skipped already existed, or were inserted by a concurrent transaction that committed while this
  // statement waited on it. A new statement (new snapshot) sees both, through the unique index.
  const skipped = [...new Set(rows.map((r) => r.idempotencyKey).filter((k) => !insertedIds.has(k)))];
  const existing = new Map<string, { id: number; hash: string }>();
  if (skipped.length) {
    const found = await db
      .select({ id: interactions.id, key: interactions.idempotencyKey, hash: interactions.contentHash })
      .from(interactions)
      .where(and(eq(interactions.tenantId, tenantId), inArray(interactions.idempotencyKey, skipped)));
    for (const e of found) existing.set(e.key, { id: e.id, hash: e.hash });
  }
  const stored = new Map<string, string>(); // key -> hash of the occurrence this batch stored
  return rows.map((r): StoreResult => {
    const key = r.idempotencyKey;
    const id = insertedIds.get(key);
    if (id !== undefined) {
      // The first occurrence of a freshly inserted key is the stored one (the sort is stable); repeats are retries.
      const hash = stored.get(key);
      if (hash === undefined) {
        stored.set(key, r.contentHash);
        return { status: 'stored', id, idempotencyKey: key };
      }
      return { status: hash === r.contentHash ? 'duplicate' : 'conflict', id, idempotencyKey: key };
    }
    const prior = existing.get(key)!;
    return { status: prior.hash === r.contentHash ? 'duplicate' : 'conflict', id: prior.id, idempotencyKey: key };
  });
}

/** One tenant's interaction by id or idempotency key; another tenant's id is not found. */
export async function findInteraction(db: Db, tenantId: string, ref: { id: number } | { key: string }): Promise<number | undefined> {
  const [row] = await db
    .select({ id: interactions.id })
    .from(interactions)
    .where(and(eq(interactions.tenantId, tenantId), 'id' in ref ? eq(interactions.id, ref.id) : eq(interactions.idempotencyKey, ref.key)));
  return row?.id;
}

/**
 * Inserts one feedback row, idempotent on (tenant, idempotency key): returns the row stored under the key, and
 * whether this call inserted it (a caller compares content hashes to tell a retry from a reused key).
 */
export async function insertFeedback(
  db: Db,
  f: {
    tenantId: string;
    interactionId: number;
    idempotencyKey: string;
    contentHash: string;
    kind: FeedbackKind;
    correctedAnswer: string | null;
    score: number | null;
    source: string;
  },
): Promise<{ id: number; content_hash: string; inserted: boolean }> {
  const rows = rowsOf<{ id: string | number; content_hash: string; inserted: boolean }>(
    await db.execute(sql`
      with ins as (
        insert into feedback (tenant_id, interaction_id, idempotency_key, content_hash, kind, corrected_answer, score, source)
        values (${f.tenantId}, ${f.interactionId}, ${f.idempotencyKey}, ${f.contentHash}, ${f.kind}, ${f.correctedAnswer}, ${f.score}, ${f.source})
        on conflict (tenant_id, idempotency_key) do nothing
        returning id, content_hash)
      select id, content_hash, true as inserted from ins
      union all
      select id, content_hash, false from feedback where tenant_id = ${f.tenantId} and idempotency_key = ${f.idempotencyKey} and not exists (select 1 from ins)`),
  );
  // Empty when a concurrent transaction inserted the same key after this statement's snapshot: look again.
  const row =
    rows[0] ??
    rowsOf<{ id: string | number; content_hash: string; inserted: boolean }>(
      await db.execute(sql`select id, content_hash, false as inserted from feedback where tenant_id = ${f.tenantId} and idempotency_key = ${f.idempotencyKey}`),
    )[0]!;
  return { id: Number(row.id), content_hash: row.content_hash, inserted: row.inserted };
}
