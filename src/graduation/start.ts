import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { GraduateInput, graduateWorkflow } from '../../workflows/graduate';
import { InputError } from '../errors';
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

/**
 * Sends a decision to a candidate's review workflow through its `decide` Update and waits for the outcome. The
 * decision is validated here first (same rules as the workflow's validator) so bad input never reaches Temporal.
 * Every refusal becomes an InputError: 400 for bad input or an edit that fails verification, 409 when the candidate
 * is not awaiting review.
 */
export async function decideCandidate(client: Client, candidateId: string, decision: unknown): Promise<DecisionResult> {
  let d: Decision;
  try {
    d = validateDecision(decision);
  } catch (err) {
    const msg = (err as Error).message;
    throw new InputError(msg.split(':')[0]!, msg.slice(msg.indexOf(':') + 1).trim());
  }
  const handle = client.workflow.getHandle(reviewId(candidateId));
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') throw new InputError('candidate', `candidate ${candidateId} is not awaiting review (its review ${desc.status.name.toLowerCase()})`, 409);
    return await handle.executeUpdate<DecisionResult, [Decision]>('decide', { args: [d] });
  } catch (err) {
    if (err instanceof InputError) throw err;
    if (err instanceof WorkflowNotFoundError) throw new InputError('candidate', `candidate ${candidateId} has no review: it failed verification or does not exist`, 404);
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = (err.cause as Error | undefined)?.cause ?? err.cause;
      const message = (cause as Error | undefined)?.message ?? err.message;
      const conflict = /no further decision|being decided/.test(message);
      throw new InputError(/edit|template|script|compile/.test(message) ? 'template' : 'decision', message, conflict ? 409 : 400);
    }
    throw err;
  }
}
