/**
 * The Temporal contract: what a workflow takes and returns, how its executions are named, the messages it answers,
 * the task queues and the retry policies its activities run under. Workflows, starters, the CLI, the API and tests
 * meet here instead of importing each other. It runs inside the workflow sandbox too, so it must stay free of I/O
 * and of Node built-ins (type-only imports are fine: they vanish when compiled).
 */
import { type RetryPolicy, SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ClusterParams } from '../clustering/cluster';
import type { GatePolicy } from '../distill/gate';
import type { DatasetOptions, TrainerConfig } from '../distill/types';
import type { Decision, DecisionResult } from '../graduation/decision';
import type { GraduationPolicy } from '../graduation/verify';
import type { SourceFile } from '../ingest/source-file';
import type { ClusterRunStats } from '../runs/types';
import type { ReplayPolicy, ReplayReport } from '../manifest/replay';

// --- task queues and retries ----------------------------------------------------------------------------------------

/** Defaults of TEMPORAL_TASK_QUEUE (workflows and CPU activities) and TEMPORAL_GPU_TASK_QUEUE (the GPU runners). */
export const TASK_QUEUES = { cpu: 'distillery', gpu: 'distillery-gpu' } as const;

/** Bad input never gets better by retrying (activities/errors.ts turns InputError into this failure type). */
const NON_RETRYABLE = ['InputError'];
const backoff = (initialInterval: string, maximumInterval: string, maximumAttempts: number): RetryPolicy => ({
  initialInterval,
  backoffCoefficient: 2,
  maximumInterval,
  maximumAttempts,
  nonRetryableErrorTypes: NON_RETRYABLE,
});

/** The activity retry policies, by the kind of work they guard. */
export const RETRY = {
  /** Short bookkeeping and single-step work (publish, retrain bookkeeping, fine-tune CPU steps). */
  standard: backoff('2 seconds', '1 minute', 10),
  /** Long CPU steps (clustering, graduation): a struggling database gets more room between attempts. */
  long: backoff('2 seconds', '2 minutes', 10),
  /** A reviewer waits on these (review decisions): retry quickly. */
  interactive: backoff('1 second', '1 minute', 10),
  /** Ingest spans: many small idempotent calls; a flaky source gets more attempts. */
  ingest: backoff('1 second', '1 minute', 20),
  /** GPU runners: jobs move between machines, so attempts are many and spaced out. */
  gpu: backoff('5 seconds', '5 minutes', 20),
} satisfies Record<string, RetryPolicy>;

// --- workflow ids ----------------------------------------------------------------------------------------------------
// An id names what must not run twice at once: a second start with the same id is refused (AlreadyRunningError).

export const ids = {
  /** One import per (tenant, source) at a time. */
  ingest: (tenantId: string, source: string) => `ingest:${tenantId}:${source}`,
  /** One clustering per (tenant, period) at a time. */
  cluster: (input: Pick<ClusterInput, 'tenantId' | 'from' | 'to'>) => `cluster:${input.tenantId}:${input.from ?? 'start'}..${input.to ?? 'now'}`,
  /** One graduation per clustering run. */
  graduate: (tenantId: string, clusterRunId: string) => `graduate:${tenantId}:${clusterRunId}`,
  /** A candidate's review: its id is the candidate's, so a re-run of graduation never opens a second review. */
  review: (candidateId: string) => `review:${candidateId}`,
  /**
   * One fine-tune per (tenant, run, category, config). `configDigest` hashes the category and trainer config
   * (starters.ts computes it: node:crypto cannot enter the workflow bundle).
   */
  fineTune: (tenantId: string, clusterRunId: string, configDigest: string) => `finetune:${tenantId}:${clusterRunId}:${configDigest}`,
  /** The tenant's single publisher: two publishes or rollbacks can never interleave. */
  publish: (tenantId: string) => `publish:${tenantId}`,
  /** The tenant's review publisher: decisions within one quiet spell become one publish. */
  reviewPublish: (tenantId: string) => `review-publish:${tenantId}`,
  /** One manual retrain per tenant at a time. */
  retrain: (tenantId: string) => `retrain:${tenantId}`,
  /** The id scheduled retrains start under (Temporal appends the scheduled time). */
  scheduledRetrain: (tenantId: string) => `retrain:${tenantId}:scheduled`,
  /** A retrain's children are named after it, so a resumed retrain finds them instead of starting new ones. */
  retrainChild: {
    cluster: (retrainWorkflowId: string) => `${retrainWorkflowId}/cluster`,
    graduate: (retrainWorkflowId: string) => `${retrainWorkflowId}/graduate`,
    fineTune: (retrainWorkflowId: string, clusterId: string) => `${retrainWorkflowId}/finetune/${clusterId}`,
  },
};

export const scheduleIds = {
  /** The tenant's monthly retrain schedule. */
  retrain: (tenantId: string) => `retrain:${tenantId}:monthly`,
};

/** A run record's id: the workflow id and its first run, so retries and continue-as-new keep one record. */
export const runRecordId = (workflowId: string, firstRunId: string) => `${workflowId}@${firstRunId}`;

// --- ingest ----------------------------------------------------------------------------------------------------------

export interface IngestInput {
  tenantId: string;
  /** s3://bucket/prefix or a local path (file or directory) of JSONL files. */
  source: string;
  /** Teacher model for chat-log lines that do not name one. */
  defaultModel?: string;
  /** Bytes per checkpointed chunk (default 8 MiB); one activity call imports a span of up to 8 chunks. */
  chunkBytes?: number;
  /** Span activities per workflow run before continuing as new (default 200); bounds the history size. */
  spansPerRun?: number;
  /** Carried across continueAsNew; absent on the first run. */
  state?: IngestState;
}

/** Every line is exactly one of stored, duplicate, rejected or blank: lines = stored + duplicates + rejected + blank. */
export interface IngestTotals {
  files: number;
  lines: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** Empty or whitespace-only lines (absent in totals carried over from before it was counted). */
  blank?: number;
}

export interface IngestState {
  runId: string;
  files: SourceFile[];
  fileIndex: number;
  offset: number;
  line: number;
  totals: IngestTotals;
}

export interface IngestResult extends IngestTotals {
  runId: string;
  reportUri: string | null;
}

/** What one importSpan call did, and where the next one starts. */
export interface SpanResult {
  nextOffset: number;
  nextLine: number;
  eof: boolean;
  lines: number;
  stored: number;
  duplicates: number;
  rejected: number;
  blank: number;
}

export const ingestProgressQuery = defineQuery<IngestState | undefined>('progress');

// --- clustering ------------------------------------------------------------------------------------------------------

export interface ClusterInput {
  tenantId: string;
  /** ISO times; the snapshot is the interactions of [from, to). */
  from?: string;
  to?: string;
  acceptedOnly?: boolean;
  params?: Partial<ClusterParams>;
}

/** A clustering run's figures: the run record's (src/runs/types.ts). */
export type { ClusterRunStats };

export interface ClusterOutput extends ClusterRunStats {
  runId: string;
}

// --- graduation and review -------------------------------------------------------------------------------------------

export interface GraduateRunInput {
  tenantId: string;
  clusterRunId: string;
  policy?: Partial<GraduationPolicy>;
}

export interface GraduateInput extends GraduateRunInput {
  /** Review timing (ms); defaults: remind daily, expire after 14 days, publish a minute after the last decision. */
  remindEveryMs?: number;
  expireAfterMs?: number;
  publishDebounceMs?: number;
}

export interface GraduateOutput {
  passed: number;
  failed: number;
  clustersConsidered: number;
  reviews: string[];
}

export interface ReviewInput {
  tenantId: string;
  candidateId: string;
  /** How often to remind while undecided (ms). */
  remindEveryMs: number;
  /** When the candidate expires undecided (ms after the review started). */
  expireAfterMs: number;
  /** After a decision, how long the tenant's review publisher waits for more decisions before publishing (ms). */
  publishDebounceMs?: number;
}

/** The tenant's review publisher: decisions in, one publish per quiet spell (see workflows/review-publish.ts). */
export interface ReviewPublishInput {
  tenantId: string;
  debounceMs: number;
  /** Decisions that arrived with the start (the first one) or were carried over by continue-as-new. */
  decided: string[];
}

export interface ReviewPublishOutput {
  publishes: PublishOutput[];
}

/** A review decision (the candidate id) for the tenant's review publisher. */
export const reviewDecidedSignal = defineSignal<[string]>('reviewDecided');

/** Default quiet spell after the last decision before a review publish: a reviewer's batch goes out as one version. */
export const DEFAULT_PUBLISH_DEBOUNCE_MS = 60_000;

export interface ReviewState {
  candidateId: string;
  status: 'pending_review' | 'deciding' | 'approved' | 'rejected' | 'expired';
  reminders: number;
}

export const decideUpdate = defineUpdate<DecisionResult, [Decision]>('decide');
export const reviewStateQuery = defineQuery<ReviewState>('state');

// --- distillation ----------------------------------------------------------------------------------------------------

export interface FineTuneInput {
  tenantId: string;
  clusterRunId: string;
  /** The category: these clusters of the run (default: every cluster not already served by a template). */
  clusterIds?: string[];
  datasetOptions?: Partial<DatasetOptions>;
  trainer: TrainerConfig;
  runner: 'local' | 'openai';
  /** The GPU runners' task queue (config TEMPORAL_GPU_TASK_QUEUE). */
  gpuTaskQueue: string;
  gate?: Partial<GatePolicy>;
  maxNewTokens?: number;
  /** How long a runner may go silent before its job moves to another runner (default 2 minutes). */
  heartbeatTimeoutMs?: number;
}

export interface FineTuneOutput {
  datasetId: string;
  jobId: string;
  adapterId: string;
  status: 'candidate' | 'rejected';
  reasons: string[];
}

// --- publishing ------------------------------------------------------------------------------------------------------

export interface PublishInput {
  tenantId: string;
  mode: 'publish' | 'rollback';
  /** publish: the run this manifest belongs to (a retried publish of the same run finds its version). */
  runId?: string;
  /** rollback: the version to serve again. */
  toVersion?: number;
  actor?: string;
  replayShare?: number;
  policy?: Partial<ReplayPolicy>;
  threshold?: number;
}

export interface PublishOutput {
  status: 'published' | 'refused' | 'rolled back';
  version?: number;
  reasons: string[];
  /** The savings replay behind a publish (or a refusal): share and cost per tier, quality. */
  replay?: ReplayReport;
}

// --- retrain ---------------------------------------------------------------------------------------------------------

export interface RetrainInput {
  tenantId: string;
  /** The snapshot: interactions of the last N days before the run (default 90); before its scheduled time if scheduled. */
  lookbackDays?: number;
  cluster?: Partial<ClusterParams>;
  graduation?: { remindEveryMs?: number; expireAfterMs?: number; publishDebounceMs?: number };
  /** Cheap-model trials of the frequent frontier routes (when a cheap model is configured); false turns them off. */
  cheap?: Omit<CheapTrialInput, 'tenantId' | 'clusterRunId'> | false;
  /** Distillation is on when a trainer is given (its base model must exist on the GPU runners). */
  distill?: {
    trainer: TrainerConfig;
    runner?: 'local' | 'openai';
    /** Most categories (clusters, largest first, not served by a template) fine-tuned per run. Default 3. */
    maxCategories?: number;
    /** Smallest traffic share a category needs. Default 0.02. */
    minShare?: number;
    /** Serve adapters that pass the gate without a human step. Default true. */
    autoActivate?: boolean;
    gate?: Partial<GatePolicy>;
    maxNewTokens?: number;
  };
  publish?: { replayShare?: number; policy?: Partial<ReplayPolicy> };
  /** The GPU runners' queue (TEMPORAL_GPU_TASK_QUEUE). */
  gpuTaskQueue: string;
}

export interface RetrainOutput {
  runId: string;
  clusterRunId: string;
  candidatesForReview: number;
  adapters: Array<{ adapterId: string; status: string }>;
  publish: PublishOutput;
}

/** Set by Temporal on runs a Schedule starts (backfills included): the time the run stands for. */
export const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

// --- run records -----------------------------------------------------------------------------------------------------

/** What a workflow's failure writes to its run record (the failRun activity). */
export interface FailRunInput {
  runId: string;
  kind: 'ingest' | 'cluster' | 'retrain';
  tenantId: string;
  workflowId: string;
  error: string;
}

// --- cheap-model trials ----------------------------------------------------------------------------------------------

export interface CheapTrialInput {
  tenantId: string;
  clusterRunId: string;
  /** Least traffic share a route needs to be tried (default 0.02). */
  minShare?: number;
  /** Held-out queries per route (default: the fewest that can pass the tenant's budget clean). */
  samples?: number;
  maxRoutes?: number;
}

export interface CheapTrialOutput {
  tried: Array<{ routeId: string; status: 'running' | 'promoted' | 'refused' | 'skipped'; reason: string; agreement?: number }>;
  costUsd?: number;
  /** Why no route was tried. */
  skipped?: string;
}
