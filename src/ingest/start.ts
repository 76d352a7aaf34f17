import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { IngestInput, ingestWorkflow } from '../../workflows/ingest';
import { InputError } from '../errors';

/** One import per (tenant, source) at a time: the id makes a second concurrent start impossible. */
export function ingestWorkflowId(tenantId: string, source: string): string {
  return `ingest:${tenantId}:${source}`;
}

export async function startIngest(client: Client, taskQueue: string, input: Omit<IngestInput, 'state'>): Promise<WorkflowHandleWithFirstExecutionRunId<typeof ingestWorkflow>> {
  const workflowId = ingestWorkflowId(input.tenantId, input.source);
  try {
    return await client.workflow.start<typeof ingestWorkflow>('ingestWorkflow', { taskQueue, workflowId, args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new InputError('source', `an import of ${input.source} for tenant ${input.tenantId} is already running (workflow ${workflowId}); wait for it or cancel it`, 409);
    }
    throw err;
  }
}
