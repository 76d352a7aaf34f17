/**
 * The closed word lists the pipeline speaks: each is defined here once, and the schema (column enums), the CLI
 * (choices), the API (validation) and the domain types all take it from here. Plain data, no imports, so anything
 * may depend on it. (Tier names are defined with the manifest types; the SDK, published alone, keeps its own copy.)
 */

export const FEEDBACK_KINDS = ['accepted', 'rejected', 'edited', 'score'] as const;
export type FeedbackKind = (typeof FEEDBACK_KINDS)[number];

export const RUN_KINDS = ['ingest', 'cluster', 'retrain'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const RUN_STATUSES = ['running', 'completed', 'failed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const CLUSTER_STATUSES = ['active', 'merged', 'split', 'retired'] as const;
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];
export const CLUSTER_EVENT_KINDS = ['new', 'split', 'merge', 'retire'] as const;
export type ClusterEventKind = (typeof CLUSTER_EVENT_KINDS)[number];

export const CANDIDATE_KINDS = ['constant', 'template', 'script', 'toolscript'] as const;
export type CandidateKind = (typeof CANDIDATE_KINDS)[number];
export const CANDIDATE_STATUSES = ['failed_verification', 'pending_review', 'approved', 'rejected', 'expired'] as const;
export type CandidateStatus = (typeof CANDIDATE_STATUSES)[number];
export const REVIEW_DECISIONS = ['approve', 'approve_with_edits', 'reject', 'expire'] as const;
export type ReviewDecisionKind = (typeof REVIEW_DECISIONS)[number];

export const TIER_ENTRY_STATUSES = ['active', 'superseded', 'revoked'] as const;

/** Where a fine-tune runs: the local trainer on a GPU worker, or a hosted OpenAI-compatible fine-tuning API. */
export const RUNNERS = ['local', 'openai'] as const;
export type Runner = (typeof RUNNERS)[number];
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const ADAPTER_STATUSES = ['candidate', 'active', 'rejected'] as const;
export type AdapterStatus = (typeof ADAPTER_STATUSES)[number];

export const MANIFEST_STATUSES = ['writing', 'published'] as const;
export const MANIFEST_EVENT_KINDS = ['publish', 'rollback'] as const;
