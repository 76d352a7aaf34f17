/**
 * Every way the project starts a workflow. Workflows are started by type name with the contract's types, so no
 * caller imports workflow code (only the worker bundles it).
 */
import { createHash } from 'node:crypto';
import {
  ActivityFailure,
  ApplicationFailure,
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandleWithFirstExecutionRunId,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { AlreadyRunningError, InputError, ConflictError, NotFoundError, UnavailableError } from '../errors';
import { type Decision, type DecisionResult, validateDecision } from '../graduation/decision';
import { type AllowedSources, assertAllowedSource } from '../ingest/allowed';
import { assertStorableStrings } from '../interactions/record';
import {
  type ClusterInput,
  type ClusterOutput,
  decideUpdate,
  type FineTuneInput,
  type FineTuneOutput,
  type GraduateInput,
  type GraduateOutput,
  ids,
  type IngestInput,
  type IngestResult,
  type PublishInput,
  type PublishOutput,
  type RetrainInput,
  type RetrainOutput,
  scheduleIds,
} from './contract';

/** Workflow signatures as the client sees them (the contract's types; no workflow module imported). */
type Fn<I, O> = (input: I) => Promise<O>;
type Started<I, O> = WorkflowHandleWithFirstExecutionRunId<Fn<I, O>>;

/**
 * The one start helper: starts `workflowType` under `workflowId`; a workflow already running under that id
 * becomes an AlreadyRunningError with `conflict`'s message (the id is what makes a second start impossible).
 */
async function startOnce<I, O>(
  client: Client,
  workflowType: string,
  opts: { taskQueue: string; workflowId: string; input: I },
  conflict: { field: string; message: string },
): Promise<Started<I, O>> {
  try {
    return await client.workflow.start<Fn<I, O>>(workflowType, { taskQueue: opts.taskQueue, workflowId: opts.workflowId, args: [opts.input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new AlreadyRunningError(opts.workflowId, conflict.field, conflict.message);
    throw err;
  }
}

/**
 * Starts an import. `allowed` (config.ingest.allowedSources) gives fast feedback on a source outside the allowed
 * roots and buckets; the worker's activity checks again against its own configuration, which is the real guard.
 */
export async function startIngest(
  client: Client,
  taskQueue: string,
  input: Omit<IngestInput, 'state'>,
  allowed: AllowedSources,
): Promise<Started<IngestInput, IngestResult>> {
  if (!input.source) throw new InputError('source', 'required: an s3://bucket/prefix or a local path to a .jsonl file or directory');
  assertAllowedSource(input.source, allowed, input.tenantId, { mustExist: false });
  const workflowId = ids.ingest(input.tenantId, input.source);
  return startOnce<IngestInput, IngestResult>(
    client,
    'ingestWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'source',
      message: `an import of ${input.source} for tenant ${input.tenantId} is already running (workflow ${workflowId}); wait for it or cancel it`,
    },
  );
}

export async function startClustering(client: Client, taskQueue: string, input: ClusterInput): Promise<Started<ClusterInput, ClusterOutput>> {
  for (const f of ['from', 'to'] as const) {
    if (input[f] !== undefined && Number.isNaN(Date.parse(input[f]!)))
      throw new InputError(`--${f}`, `must be an ISO date or time, e.g. 2026-11-01, got ${JSON.stringify(input[f])}`);
  }
  const workflowId = ids.cluster(input);
  return startOnce<ClusterInput, ClusterOutput>(
    client,
    'clusterWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'tenant',
      message: `clustering ${workflowId} is already running; wait for it`,
    },
  );
}

export function startGraduation(client: Client, taskQueue: string, input: GraduateInput): Promise<Started<GraduateInput, GraduateOutput>> {
  const workflowId = ids.graduate(input.tenantId, input.clusterRunId);
  return startOnce<GraduateInput, GraduateOutput>(
    client,
    'graduateWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'run',
      message: `graduation ${workflowId} is already running; wait for it`,
    },
  );
}

/** The category and trainer config a fine-tune id stands for, hashed (the contract's ids.fineTune takes it). */
export function fineTuneWorkflowId(input: Pick<FineTuneInput, 'tenantId' | 'clusterRunId' | 'clusterIds' | 'trainer' | 'runner'>): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([input.clusterIds?.slice().sort() ?? 'untemplated', input.trainer, input.runner]))
    .digest('hex')
    .slice(0, 10);
  return ids.fineTune(input.tenantId, input.clusterRunId, digest);
}

export function startFineTune(client: Client, taskQueue: string, input: FineTuneInput): Promise<Started<FineTuneInput, FineTuneOutput>> {
  const workflowId = fineTuneWorkflowId(input);
  return startOnce<FineTuneInput, FineTuneOutput>(
    client,
    'fineTuneWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'tenant',
      message: `fine-tune ${workflowId} is already running: see \`distillery jobs status\``,
    },
  );
}

/** Starts the tenant's single publisher (publish or rollback); one runs at a time, a second start is refused. */
export function startPublish(client: Client, taskQueue: string, input: PublishInput): Promise<Started<PublishInput, PublishOutput>> {
  const workflowId = ids.publish(input.tenantId);
  return startOnce<PublishInput, PublishOutput>(
    client,
    'publishWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'tenant',
      message: `a publish or rollback of ${input.tenantId} is running (${workflowId}); try again when it ends`,
    },
  );
}

export function startRetrain(client: Client, taskQueue: string, input: RetrainInput): Promise<Started<RetrainInput, RetrainOutput>> {
  const workflowId = ids.retrain(input.tenantId);
  return startOnce<RetrainInput, RetrainOutput>(
    client,
    'retrainWorkflow',
    { taskQueue, workflowId, input },
    {
      field: 'tenant',
      message: `a retrain of ${input.tenantId} is already running (${workflowId}); wait for it`,
    },
  );
}

/**
 * The monthly retrain as a Temporal Schedule: cron spec (default 03:00 UTC on the 1st), overlapping runs skipped
 * (a retrain still running when the next is due makes the next one skip, not pile up). Each run covers the period
 * before its scheduled time (TemporalScheduledStartTime), so a backfilled month snapshots that month.
 */
export async function createRetrainSchedule(client: Client, taskQueue: string, input: RetrainInput, opts: { cron: string; paused?: boolean; note?: string }) {
  const scheduleId = scheduleIds.retrain(input.tenantId);
  try {
    return await client.schedule.create({
      scheduleId,
      spec: { cronExpressions: [opts.cron] },
      action: { type: 'startWorkflow', workflowType: 'retrainWorkflow', taskQueue, workflowId: ids.scheduledRetrain(input.tenantId), args: [input] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
      state: { paused: opts.paused ?? false, note: opts.note ?? 'monthly retrain (distillery schedule create)' },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning)
      throw new ConflictError(
        'tenant',
        `the schedule ${scheduleId} already exists: see \`distillery schedule describe --tenant ${input.tenantId}\`, or delete it first`,
      );
    throw err;
  }
}

/**
 * Sends a decision to a candidate's review workflow through its `decide` Update and waits for the outcome. The
 * decision is validated here first (same rules as the workflow's validator) so bad input never reaches Temporal.
 * Every refusal becomes an InputError: 400 for bad input or an edit that fails verification, 409 when the candidate
 * is not awaiting review.
 */
export async function decideCandidate(client: Client, candidateId: string, decision: unknown): Promise<DecisionResult> {
  const d = parseDecision(decision);
  const handle = client.workflow.getHandle(ids.review(candidateId));
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING')
      throw new ConflictError('candidate', `candidate ${candidateId} is not awaiting review (its review ${desc.status.name.toLowerCase()})`);
    return await handle.executeUpdate(decideUpdate, { args: [d] });
  } catch (err) {
    if (err instanceof InputError) throw err;
    if (err instanceof WorkflowNotFoundError)
      throw new NotFoundError('candidate', `candidate ${candidateId} has no review: it failed verification or does not exist`);
    if (err instanceof WorkflowUpdateFailedError) throw decisionRefusal(err);
    throw err;
  }
}

/** The decision as the workflow takes it, or an InputError naming the field (strings must be storable, too). */
export function parseDecision(decision: unknown): Decision {
  assertStorableStrings(decision);
  try {
    return validateDecision(decision);
  } catch (err) {
    const msg = (err as Error).message;
    throw new InputError(msg.split(':')[0]!, msg.slice(msg.indexOf(':') + 1).trim());
  }
}

/**
 * What a failed `decide` Update tells the caller. The workflow's own refusals (validator, failed verification) and an
 * activity's InputError are written for users and pass through; any other activity error (a database error holds
 * the SQL and its parameters) becomes a short reason: the candidate stays pending and the same decision can be
 * retried.
 */
export function decisionRefusal(err: WorkflowUpdateFailedError): InputError {
  const cause = err.cause;
  if (cause instanceof ActivityFailure) {
    const inner = cause.cause;
    if (inner instanceof ApplicationFailure && inner.type === 'InputError') {
      const field = (inner.details?.[0] as { field?: unknown } | undefined)?.field;
      const name = typeof field === 'string' ? field : 'decision';
      const message = inner.message.startsWith(`${name}: `) ? inner.message.slice(name.length + 2) : inner.message;
      return new InputError(name, message);
    }
    const what = inner instanceof ApplicationFailure && inner.type ? inner.type : 'an error';
    return new UnavailableError(
      '(service)',
      `recording the decision failed (${cause.activityType ?? 'activity'}: ${what}); the candidate is still awaiting review: retry the same decision`,
    );
  }
  if (cause instanceof ApplicationFailure) {
    const message = cause.message;
    const conflict = /no further decision|being decided/.test(message);
    const field = /edit|template|script|compile/.test(message) ? 'template' : 'decision';
    return conflict ? new ConflictError(field, message) : new InputError(field, message);
  }
  return new UnavailableError('(service)', 'the review workflow could not take the decision; retry the same decision');
}
