import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { IngestInput, ingestWorkflow } from '../../workflows/ingest';
import { InputError } from '../errors';
import { type AllowedSources, assertAllowedSource } from './allowed';

/** One import per (tenant, source) at a time: the id makes a second concurrent start impossible. */
export function ingestWorkflowId(tenantId: string, source: string): string {
  return `ingest:${tenantId}:${source}`;
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
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof ingestWorkflow>> {
  if (!input.source) throw new InputError('source', 'required: an s3://bucket/prefix or a local path to a .jsonl file or directory');
  assertAllowedSource(input.source, allowed, input.tenantId, { mustExist: false });
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
