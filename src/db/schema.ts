import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { DatasetCard, TrainerConfig } from '../distill/types';
import type { GateEvaluation } from '../distill/gate';
import type { ScriptSpec } from '../serving/script';
import type { Evidence } from '../graduation/verify';
import type { ErrorBudget } from '../promotion/budget';
import type { Calibration } from '../judge/calibration';
import type { ChatMessage } from '../interactions/record';
import type { Manifest } from '../serving/manifest';
import type { ReplayReport } from '../manifest/replay';
import type { RunParams, RunStats } from '../runs/types';
import {
  ADAPTER_STATUSES,
  CANDIDATE_KINDS,
  CANDIDATE_STATUSES,
  CLUSTER_EVENT_KINDS,
  CLUSTER_STATUSES,
  FEEDBACK_KINDS,
  JOB_STATUSES,
  MANIFEST_EVENT_KINDS,
  MANIFEST_STATUSES,
  REVIEW_DECISIONS,
  RUN_KINDS,
  RUN_STATUSES,
  RUNNERS,
  type Runner,
  TIER_ENTRY_STATUSES,
} from '../vocabulary';

/** A jsonb object whose keys are open (request parameters, metadata, tier targets and evidence). */
type JsonObject = Record<string, unknown>;
/** A candidate version's evidence: the verification's, plus (from induction) per-cluster figures and support. */
export type StoredEvidence = Evidence & { perCluster?: unknown; support?: unknown };
import { TIERS } from '../serving/manifest';

/** A customer of the platform; every row below belongs to exactly one. */
export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  /** The tenant's one error budget for every promotion (null: DEFAULT_BUDGET, <= 1% wrong at 95%). */
  errorBudget: jsonb('error_budget').$type<ErrorBudget>(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * API keys are stored as SHA-256 hashes; the prefix is kept so a person can tell keys apart. `name` says who or what
 * holds the key (review decisions record it as the reviewer, so it is unique among a tenant's live keys); `scopes` are
 * what it may do (src/api/scopes.ts). Neither has a column default: every key is issued with both said explicitly
 * (migration 0005 gave the keys that existed before scopes every scope and their prefix as name).
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    keyHash: text('key_hash').notNull(),
    keyPrefix: text('key_prefix').notNull(),
    name: text('name').notNull(),
    scopes: text('scopes').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('api_keys_hash_uq').on(t.keyHash),
    uniqueIndex('api_keys_live_name_uq')
      .on(t.tenantId, t.name)
      .where(sql`revoked_at is null`),
  ],
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
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    idempotencyKey: text('idempotency_key').notNull(),
    contentHash: text('content_hash').notNull(),
    source: text('source').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
    teacherModel: text('teacher_model').notNull(),
    messages: jsonb('messages').$type<ChatMessage[]>().notNull(),
    requestParams: jsonb('request_params').$type<JsonObject>().notNull().default({}),
    response: jsonb('response').$type<JsonObject>().notNull(),
    queryText: text('query_text').notNull(),
    answerText: text('answer_text').notNull(),
    promptTokens: integer('prompt_tokens'),
    completionTokens: integer('completion_tokens'),
    costUsd: doublePrecision('cost_usd'),
    latencyMs: integer('latency_ms'),
    metadata: jsonb('metadata').$type<JsonObject>().notNull().default({}),
  },
  (t) => [uniqueIndex('interactions_tenant_key_uq').on(t.tenantId, t.idempotencyKey), index('interactions_tenant_time_idx').on(t.tenantId, t.occurredAt)],
);

/**
 * Acceptance signals, append-only. The latest row per interaction is its current acceptance; earlier rows are
 * history. `edited` carries the corrected answer, which later replaces the teacher's answer in datasets.
 */
export const feedback = pgTable(
  'feedback',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    interactionId: bigint('interaction_id', { mode: 'number' })
      .notNull()
      .references(() => interactions.id),
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
    kind: text('kind', { enum: RUN_KINDS }).notNull(),
    tenantId: text('tenant_id'),
    workflowId: text('workflow_id').notNull(),
    status: text('status', { enum: RUN_STATUSES }).notNull(),
    /** Typed per kind in src/runs/store.ts (RunShapes). */
    params: jsonb('params').$type<RunParams>().notNull().default({}),
    stats: jsonb('stats').$type<RunStats>().notNull().default({}),
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
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
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
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
    sourceUri: text('source_uri').notNull(),
    lineNo: integer('line_no').notNull(),
    reason: text('reason').notNull(),
    excerpt: text('excerpt').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.sourceUri, t.lineNo] })],
);

/** Raw bytes (Float32 vectors, little-endian). */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
});

/** Embedding cache: one vector per (model, text hash), so no text is ever embedded twice by the same model. */
export const embeddings = pgTable(
  'embeddings',
  {
    model: text('model').notNull(),
    textHash: text('text_hash').notNull(),
    dims: integer('dims').notNull(),
    vector: bytea('vector').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.model, t.textHash] })],
);

/**
 * A cluster identity, stable across runs: a later run that finds the same group of queries keeps the id. Ids are
 * never reused: a cluster that merges into another, splits, or stops appearing changes status and names its
 * successors, and its id stays retired.
 */
export const clusters = pgTable(
  'clusters',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    status: text('status', { enum: CLUSTER_STATUSES }).notNull(),
    label: text('label').notNull(),
    keywords: jsonb('keywords').$type<string[]>().notNull(),
    embeddingModel: text('embedding_model').notNull(),
    centroid: bytea('centroid').notNull(),
    successorIds: jsonb('successor_ids').$type<string[]>().notNull().default([]),
    firstRunId: text('first_run_id').notNull(),
    lastRunId: text('last_run_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('clusters_tenant_status_idx').on(t.tenantId, t.status)],
);

/** A cluster as one run saw it: its size, share of traffic, cohesion and representative queries. */
export const clusterSnapshots = pgTable(
  'cluster_snapshots',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
    clusterId: text('cluster_id')
      .notNull()
      .references(() => clusters.id),
    size: integer('size').notNull(),
    distinctQueries: integer('distinct_queries').notNull(),
    share: doublePrecision('share').notNull(),
    cohesion: doublePrecision('cohesion').notNull(),
    label: text('label').notNull(),
    keywords: jsonb('keywords').$type<string[]>().notNull(),
    representatives: jsonb('representatives').$type<Array<{ text: string; count: number }>>().notNull(),
    centroid: bytea('centroid').notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.clusterId] })],
);

/** Which cluster each interaction of a run's snapshot fell into (unclustered interactions have no row). */
export const clusterMembers = pgTable(
  'cluster_members',
  {
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
    interactionId: bigint('interaction_id', { mode: 'number' })
      .notNull()
      .references(() => interactions.id),
    clusterId: text('cluster_id')
      .notNull()
      .references(() => clusters.id),
  },
  (t) => [primaryKey({ columns: [t.runId, t.interactionId] }), index('cluster_members_cluster_idx').on(t.runId, t.clusterId)],
);

/** Identity changes a run made: new clusters, splits, merges, retirements. */
export const clusterEvents = pgTable(
  'cluster_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id),
    kind: text('kind', { enum: CLUSTER_EVENT_KINDS }).notNull(),
    fromIds: jsonb('from_ids').$type<string[]>().notNull(),
    toIds: jsonb('to_ids').$type<string[]>().notNull(),
  },
  (t) => [index('cluster_events_run_idx').on(t.runId)],
);

/**
 * A graduation candidate: one answer (constant, template or script) for one or more clusters of a clustering run.
 * Its id is derived from (tenant, cluster run, answer), so re-running graduation never duplicates it. The text and
 * evidence live in versions; `current_version` is what a reviewer decides on.
 */
export const candidates = pgTable(
  'candidates',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    clusterRunId: text('cluster_run_id')
      .notNull()
      .references(() => runs.id),
    clusterIds: jsonb('cluster_ids').$type<string[]>().notNull(),
    kind: text('kind', { enum: CANDIDATE_KINDS }).notNull(),
    status: text('status', { enum: CANDIDATE_STATUSES }).notNull(),
    /** Share of the run's traffic its clusters hold: what approving it would take off the teacher. */
    trafficShare: doublePrecision('traffic_share').notNull(),
    label: text('label').notNull(),
    currentVersion: integer('current_version').notNull().default(1),
    reminders: integer('reminders').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('candidates_tenant_status_idx').on(t.tenantId, t.status)],
);

/** Each version of a candidate's answer with the replay evidence it earned; edits add versions, nothing is rewritten. */
export const candidateVersions = pgTable(
  'candidate_versions',
  {
    candidateId: text('candidate_id')
      .notNull()
      .references(() => candidates.id),
    version: integer('version').notNull(),
    template: text('template').notNull(),
    script: jsonb('script').$type<ScriptSpec | null>(),
    evidence: jsonb('evidence').$type<StoredEvidence>().notNull(),
    passed: integer('passed').notNull(),
    author: text('author').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.candidateId, t.version] })],
);

/** Reviewer decisions (and expiries), append-only: who decided what on which version, when. */
export const reviewDecisions = pgTable(
  'review_decisions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    candidateId: text('candidate_id')
      .notNull()
      .references(() => candidates.id),
    version: integer('version').notNull(),
    decision: text('decision', { enum: REVIEW_DECISIONS }).notNull(),
    reviewer: text('reviewer').notNull(),
    comment: text('comment'),
    decidedAt: timestamp('decided_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('review_decisions_candidate_uq').on(t.candidateId)],
);

/**
 * The tier table: where a route (a stable cluster id) is served. Entries are never updated in place except to close
 * them: a new entry for a route supersedes the open one, so history is the table itself. Issue 6 publishes it.
 */
export const tierEntries = pgTable(
  'tier_entries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    routeId: text('route_id')
      .notNull()
      .references(() => clusters.id),
    tier: text('tier', { enum: TIERS }).notNull(),
    /** What serves it: {candidateId, version} for templates; adapter or model references for the others. */
    target: jsonb('target').$type<JsonObject>().notNull(),
    evidence: jsonb('evidence').$type<JsonObject>().notNull(),
    status: text('status', { enum: TIER_ENTRY_STATUSES }).notNull(),
    validFrom: timestamp('valid_from', { withTimezone: true }).notNull().defaultNow(),
    validTo: timestamp('valid_to', { withTimezone: true }),
  },
  (t) => [
    index('tier_entries_tenant_route_idx').on(t.tenantId, t.routeId),
    uniqueIndex('tier_entries_one_active_uq')
      .on(t.tenantId, t.routeId)
      .where(sql`${t.status} = 'active'`),
  ],
);

/**
 * A distillation dataset: content-addressed (the id is a hash of its train and eval files), so building the same
 * data twice yields the same row and the same objects in the blob store. The card says what went in and what
 * the filters took out.
 */
export const datasets = pgTable(
  'datasets',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    clusterRunId: text('cluster_run_id')
      .notNull()
      .references(() => runs.id),
    clusterIds: jsonb('cluster_ids').$type<string[]>().notNull(),
    card: jsonb('card').$type<DatasetCard>().notNull(),
    trainKey: text('train_key').notNull(),
    evalKey: text('eval_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('datasets_tenant_idx').on(t.tenantId, t.createdAt)],
);

/** A fine-tune job on a runner (local trainer on a GPU worker, or a hosted fine-tuning API). */
export const finetuneJobs = pgTable(
  'finetune_jobs',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    datasetId: text('dataset_id')
      .notNull()
      .references(() => datasets.id),
    runner: text('runner', { enum: RUNNERS }).$type<Runner>().notNull(),
    config: jsonb('config').$type<TrainerConfig>().notNull(),
    status: text('status', { enum: JOB_STATUSES }).notNull(),
    workflowId: text('workflow_id').notNull(),
    progress: jsonb('progress').$type<JsonObject>().notNull().default({}),
    metrics: jsonb('metrics').$type<JsonObject>(),
    adapterKey: text('adapter_key'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('finetune_jobs_tenant_idx').on(t.tenantId, t.createdAt)],
);

/** Where an adapter came from: cluster run → dataset → job → runner and config, and the trainer's figures. */
export interface AdapterLineage {
  clusterRunId: string;
  clusterIds: string[];
  datasetId: string;
  jobId: string;
  runner: Runner;
  config: TrainerConfig;
  metrics: JsonObject;
}

/**
 * A trained adapter with its lineage (cluster run → dataset → job → config) and the evaluation that let it through
 * the gate (candidate) or not (rejected). `name` is how a server such as vLLM (`--lora-modules name=uri`) or
 * LoRAX (`adapter_id`) serves it.
 */
export const adapters = pgTable(
  'adapters',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    jobId: text('job_id')
      .notNull()
      .references(() => finetuneJobs.id),
    datasetId: text('dataset_id')
      .notNull()
      .references(() => datasets.id),
    name: text('name').notNull(),
    baseModel: text('base_model').notNull(),
    uri: text('uri').notNull(),
    status: text('status', { enum: ADAPTER_STATUSES }).notNull(),
    evaluation: jsonb('evaluation').$type<GateEvaluation>().notNull(),
    lineage: jsonb('lineage').$type<AdapterLineage>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('adapters_tenant_status_idx').on(t.tenantId, t.status)],
);

/**
 * Published tier manifests, one row per version (the JSON itself lives in the blob store under `key`; the row keeps
 * a copy so a retried publish rewrites the same bytes). `run_id` makes publishing idempotent per retrain run:
 * a crashed and retried publish finds its row instead of minting another version.
 */
export const manifests = pgTable(
  'manifests',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    version: integer('version').notNull(),
    runId: text('run_id').notNull(),
    key: text('key').notNull(),
    contentHash: text('content_hash').notNull(),
    manifest: jsonb('manifest').$type<Manifest>().notNull(),
    replay: jsonb('replay').$type<ReplayReport>().notNull(),
    status: text('status', { enum: MANIFEST_STATUSES }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.version] }), uniqueIndex('manifests_run_uq').on(t.tenantId, t.runId)],
);

/** Every switch of a tenant's `current` pointer: publishes and rollbacks, in order. The last one is what is served. */
export const manifestEvents = pgTable(
  'manifest_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    kind: text('kind', { enum: MANIFEST_EVENT_KINDS }).notNull(),
    version: integer('version').notNull(),
    fromVersion: integer('from_version'),
    actor: text('actor').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('manifest_events_tenant_idx').on(t.tenantId, t.id)],
);

/**
 * Prices per tier for savings projections (USD per million tokens, plus a fixed cost per call). Seeded with
 * defaults by the migration; `distillery prices set` changes them.
 */
export const tierPrices = pgTable('tier_prices', {
  tier: text('tier', { enum: TIERS }).primaryKey(),
  model: text('model').notNull(),
  inputPerMTok: doublePrecision('input_per_mtok').notNull(),
  outputPerMTok: doublePrecision('output_per_mtok').notNull(),
  perCall: doublePrecision('per_call').notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Judged promotion: the tenant's answer judge as calibrated by each graduation run (on that run's own pairs). The
 * publish replay and the published manifest use the newest, so every tier is measured on the scale that promoted it.
 */
export const judgeCalibrations = pgTable(
  'judge_calibrations',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    clusterRunId: text('cluster_run_id')
      .notNull()
      .references(() => runs.id),
    calibration: jsonb('calibration').$type<Calibration>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.clusterRunId] }), index('judge_calibrations_tenant_idx').on(t.tenantId, t.createdAt)],
);

/** Publishes the replay refused, with their reasons (one row per run): why an approved candidate is not served yet. */
export const publishRefusals = pgTable(
  'publish_refusals',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    runId: text('run_id').notNull(),
    reasons: jsonb('reasons').$type<string[]>().notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.runId] }), index('publish_refusals_tenant_idx').on(t.tenantId, t.at)],
);

/**
 * Cheap-model trials: one row per (tenant, clustering run, route); `answers` holds each sampled query's P(agree) as
 * it is judged, so a retried activity resumes where it stopped and never pays twice for the same query.
 */
export const cheapTrials = pgTable(
  'cheap_trials',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    clusterRunId: text('cluster_run_id')
      .notNull()
      .references(() => runs.id),
    routeId: text('route_id').notNull(),
    model: text('model').notNull(),
    /** interaction id → P(agree) of the cheap answer with the accepted one. */
    answers: jsonb('answers').$type<Record<string, number>>().notNull().default({}),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    status: text('status', { enum: ['running', 'promoted', 'refused', 'skipped'] }).notNull(),
    reason: text('reason'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.clusterRunId, t.routeId] })],
);

// --- gateway (src/gateway): live shadow checks and served-traffic savings ---------------------------------------------

/**
 * Live shadow checks per route and tier entry: a sample of the requests a cheaper tier served was also answered by
 * the teacher and judged. `entry` names the manifest target (e.g. `template:<candidateId>@<version>`), so a new tier
 * entry starts its own record (and its own ramp). `demotedAt` is set once, by the gateway that demoted the route.
 */
export const gatewayShadowStats = pgTable(
  'gateway_shadow_stats',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    routeId: text('route_id').notNull(),
    entry: text('entry').notNull(),
    tier: text('tier', { enum: TIERS }).notNull(),
    judged: integer('judged').notNull().default(0),
    errors: integer('errors').notNull().default(0),
    /** The latest disagreements (a few), as evidence for a demotion. */
    examples: jsonb('examples').$type<Array<Record<string, unknown>>>().notNull().default([]),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    demotedAt: timestamp('demoted_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.routeId, t.entry] })],
);

/** Served traffic per hour, route and tier, with what the same tokens would have cost on the frontier. */
export const gatewayUsage = pgTable(
  'gateway_usage',
  {
    tenantId: text('tenant_id')
      .notNull()
      .references(() => tenants.id),
    hour: timestamp('hour', { withTimezone: true }).notNull(),
    /** '' for the fallback (no route took the query). */
    routeId: text('route_id').notNull(),
    tier: text('tier', { enum: TIERS }).notNull(),
    requests: integer('requests').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    frontierCostUsd: doublePrecision('frontier_cost_usd').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hour, t.routeId, t.tier] })],
);
