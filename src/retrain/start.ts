import { type Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { RetrainInput, retrainWorkflow } from '../../workflows/retrain';
import { InputError } from '../errors';

/** One retrain per tenant at a time (manual runs); scheduled runs get Temporal's timestamped ids under the schedule. */
export const retrainWorkflowId = (tenantId: string) => `retrain:${tenantId}`;
export const retrainScheduleId = (tenantId: string) => `retrain:${tenantId}:monthly`;

export async function startRetrain(client: Client, taskQueue: string, input: RetrainInput) {
  try {
    return await client.workflow.start<typeof retrainWorkflow>('retrainWorkflow', { taskQueue, workflowId: retrainWorkflowId(input.tenantId), args: [input] });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new InputError('--tenant', `a retrain of ${input.tenantId} is already running (${retrainWorkflowId(input.tenantId)}); wait for it`, 409);
    throw err;
  }
}

/**
 * The monthly retrain as a Temporal Schedule: cron spec (default 03:00 UTC on the 1st), overlapping runs skipped
 * (a retrain still running when the next is due makes the next one skip, not pile up).
 */
export async function createRetrainSchedule(client: Client, taskQueue: string, input: RetrainInput, opts: { cron: string; paused?: boolean; note?: string }) {
  try {
    return await client.schedule.create({
      scheduleId: retrainScheduleId(input.tenantId),
      spec: { cronExpressions: [opts.cron] },
      action: { type: 'startWorkflow', workflowType: 'retrainWorkflow', taskQueue, workflowId: `retrain:${input.tenantId}:scheduled`, args: [input] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
      state: { paused: opts.paused ?? false, note: opts.note ?? 'monthly retrain (distillery schedule create)' },
    });
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) throw new InputError('--tenant', `the schedule ${retrainScheduleId(input.tenantId)} already exists: see \`distillery schedule describe --tenant ${input.tenantId}\`, or delete it first`, 409);
    throw err;
  }
}
