import { sql } from 'drizzle-orm';
import { bigint, check, doublePrecision, index, integer, jsonb, pgTable, primaryKey, real, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** A customer of the platform; every row below belongs to exactly one. */
export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** API keys are stored as SHA-256 hashes; the prefix is kept so a person can tell keys apart. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('api_keys_hash_uq').on(t.keyHash)],
);

/**
 * One call to the teacher model, as the router or app saw it. Idempotent on (tenant, idempotency key); the content
 * hash tells a harmless retry (same content) from a key reused for different content (conflict).
 * `query_text` and `answer_text` are derived once at ingestion so clustering and datasets never re-parse JSON.
 */
export const interactions = pgTable(
  'interactions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id),
    idempotencyKey: text('idempotency_key').notNull(),
    contentHash: text('content_hash').notNull(),
    source: text('source').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    teacherModel: text('teacher_model').notNull(),
    messages: jsonb('messages').notNull(),
    requestParams: jsonb('request_params').notNull().default({}),
    response: jsonb('response').notNull(),
    queryText: text('query_text').notNull(),
    answerText: text('answer_text').notNull(),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    costUsd: doublePrecision('cost_usd'),
    latencyMs: integer('latency_ms'),
    metadata: jsonb('metadata').notNull().default({}),
  },
  (t) => [
    uniqueIndex('interactions_tenant_key_uq').on(t.tenantId, t.idempotencyKey),
    index('interactions_tenant_time_idx').on(t.tenantId, t.occurredAt),
  ],
);

export const FEEDBACK_KINDS = ['accepted', 'rejected', 'edited', 'score'] as const;
export type FeedbackKind = (typeof FEEDBACK_KINDS)[number];

/**
 * Acceptance signals, append-only. The latest row per interaction is its current acceptance; earlier rows are
 * history. `edited` carries the corrected answer, which later replaces the teacher's answer in datasets.
 */
export const feedback = pgTable(
  'feedback',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id').notNull().references(() => tenants.id),
    interactionId: bigint('interaction_id', { mode: 'number' }).notNull().references(() => interactions.id),
    idempotencyKey: text('idempotency_key').notNull(),
    contentHash: text('content_hash').notNull(),
    kind: text('kind', { enum: FEEDBACK_KINDS }).notNull(),
    correctedAnswer: text('corrected_answer'),
    score: real('score'),
    source: text('source').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('feedback_tenant_key_uq').on(t.tenantId, t.idempotencyKey),
    index('feedback_interaction_idx').on(t.interactionId, t.createdAt),
    check('feedback_kind_ck', sql`${t.kind} in ('accepted','rejected','edited','score')`),
    check('feedback_edited_ck', sql`${t.kind} <> 'edited' or ${t.correctedAnswer} is not null`),
    check('feedback_score_ck', sql`${t.score} is null or (${t.score} >= 0 and ${t.score} <= 1)`),
  ],
);

/** A record of every pipeline run (ingest, cluster, retrain, …): what ran, on what, how it ended, with figures. */
export const runs = pgTable(
  'runs',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    tenantId: text('tenant_id'),
    workflowId: text('workflow_id').notNull(),
    status: text('status', { enum: ['running', 'completed', 'failed'] }).notNull(),
    params: jsonb('params').notNull().default({}),
    stats: jsonb('stats').notNull().default({}),
    error: text('error'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [index('runs_kind_started_idx').on(t.kind, t.startedAt)],
);

/**
 * Checkpoint of one committed ingest chunk, written in the same transaction as its rows, so a chunk retried after
 * a crash returns its recorded counts instead of counting twice.
 */
export const ingestChunks = pgTable(
  'ingest_chunks',
  {
    runId: text('run_id').notNull().references(() => runs.id),
    sourceUri: text('source_uri').notNull(),
    startOffset: bigint('start_offset', { mode: 'number' }).notNull(),
    endOffset: bigint('end_offset', { mode: 'number' }).notNull(),
    startLine: integer('start_line').notNull(),
    lines: integer('lines').notNull(),
    stored: integer('stored').notNull(),
    duplicates: integer('duplicates').notNull(),
    rejected: integer('rejected').notNull(),
    committedAt: timestamp('committed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.sourceUri, t.startOffset] })],
);

/** Lines an import could not store, with the reason; the run's report is built from these. */
export const ingestRejections = pgTable(
  'ingest_rejections',
  {
    runId: text('run_id').notNull().references(() => runs.id),
    sourceUri: text('source_uri').notNull(),
    lineNo: integer('line_no').notNull(),
    reason: text('reason').notNull(),
    excerpt: text('excerpt').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.sourceUri, t.lineNo] })],
);
