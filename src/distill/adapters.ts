import { createHash } from 'node:crypto';
import { type Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { FineTuneInput, fineTuneWorkflow } from '../../workflows/finetune';
import { InputError } from '../errors';

/** One fine-tune per (tenant, run, category, config): starting the same one twice is refused, not duplicated. */
export function fineTuneWorkflowId(input: Pick<FineTuneInput, 'tenantId' | 'clusterRunId' | 'clusterIds' | 'trainer' | 'runner'>): string {
  const what = createHash('sha256').update(JSON.stringify([input.clusterIds?.slice().sort() ?? 'untemplated', input.trainer, input.runner])).digest('hex').slice(0, 10);
  return `finetune:${input.tenantId}:${input.clusterRunId}:${what}`;
}

export async function startFineTune(client: Client, taskQueue: string, input: FineTuneInput) {
  const workflowId = fineTuneWorkflowId(input);
  try {
    return await client.workflow.start<typeof fineTuneWorkflow>('fineTuneWorkflow', { taskQueue, workflowId, args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new InputError('--tenant', `fine-tune ${workflowId} is already running: see \`distillery jobs status\``, 409);
    throw err;
  }
}
