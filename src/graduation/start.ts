import { ActivityFailure, ApplicationFailure, type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { GraduateInput, graduateWorkflow } from '../../workflows/graduate';
import { InputError } from '../errors';
import { assertStorableStrings } from '../interactions/record';
import { type Decision, type DecisionResult, validateDecision } from './decision';

/** One graduation per clustering run; the id says which. */
export const graduateWorkflowId = (tenantId: string, clusterRunId: string) => `graduate:${tenantId}:${clusterRunId}`;
const reviewId = (candidateId: string) => `review:${candidateId}`;

export async function startGraduation(client: Client, taskQueue: string, input: GraduateInput) {
  const workflowId = graduateWorkflowId(input.tenantId, input.clusterRunId);
  try {
    return await client.workflow.start<typeof graduateWorkflow>('graduateWorkflow', { taskQueue, workflowId, args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new InputError('--run', `graduation ${workflowId} is already running; wait for it`, 409);
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
 * Sends a decision to a candidate's review workflow through its `decide` Update and waits for the outcome. The
 * decision is validated here first (same rules as the workflow's validator) so bad input never reaches Temporal.
 * Every refusal becomes an InputError: 400 for bad input or an edit that fails verification, 409 when the candidate
 * is not awaiting review.
 */
export async function decideCandidate(client: Client, candidateId: string, decision: unknown): Promise<DecisionResult> {
  const d = parseDecision(decision);
  const handle = client.workflow.getHandle(reviewId(candidateId));
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') throw new InputError('candidate', `candidate ${candidateId} is not awaiting review (its review ${desc.status.name.toLowerCase()})`, 409);
    return await handle.executeUpdate<DecisionResult, [Decision]>('decide', { args: [d] });
  } catch (err) {
    if (err instanceof InputError) throw err;
    if (err instanceof WorkflowNotFoundError) throw new InputError('candidate', `candidate ${candidateId} has no review: it failed verification or does not exist`, 404);
    if (err instanceof WorkflowUpdateFailedError) throw decisionRefusal(err);
    throw err;
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
    return new InputError('(service)', `recording the decision failed (${cause.activityType ?? 'activity'}: ${what}); the candidate is still awaiting review: retry the same decision`, 503);
  }
  if (cause instanceof ApplicationFailure) {
    const message = cause.message;
    const conflict = /no further decision|being decided/.test(message);
    return new InputError(/edit|template|script|compile/.test(message) ? 'template' : 'decision', message, conflict ? 409 : 400);
  }
  return new InputError('(service)', 'the review workflow could not take the decision; retry the same decision', 503);
}
