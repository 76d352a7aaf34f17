import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { ClusterInput, clusterWorkflow } from '../../workflows/cluster';
import { InputError } from '../errors';

/** One clustering per (tenant, period) at a time; the id says which. */
export function clusterWorkflowId(input: Pick<ClusterInput, 'tenantId' | 'from' | 'to'>): string {
  return `cluster:${input.tenantId}:${input.from ?? 'start'}..${input.to ?? 'now'}`;
}

export async function startClustering(client: Client, taskQueue: string, input: ClusterInput) {
  for (const f of ['from', 'to'] as const) {
    if (input[f] !== undefined && Number.isNaN(Date.parse(input[f]!))) throw new InputError(`--${f}`, `must be an ISO date or time, e.g. 2026-11-01, got ${JSON.stringify(input[f])}`);
  }
  const workflowId = clusterWorkflowId(input);
  try {
    return await client.workflow.start<typeof clusterWorkflow>('clusterWorkflow', { taskQueue, workflowId, args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new InputError('--tenant', `clustering ${workflowId} is already running; wait for it`, 409);
    throw err;
  }
}
