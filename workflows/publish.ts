import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, executeChild, proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type PublishInput, type PublishOutput, RETRY, ids } from '../src/temporal/contract';

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: RETRY.standard,
});

/**
 * The tenant's single publisher (workflow id `publish:<tenant>`): publishes (build from the tier table → replay →
 * refuse or write the version, then switch the pointer) or rolls back (switch the pointer to an earlier version).
 * One id per tenant means two publishes can never interleave.
 */
export async function publishWorkflow(input: PublishInput): Promise<PublishOutput> {
  if (input.mode === 'rollback') {
    const r = await acts.rollbackManifest({ tenantId: input.tenantId, toVersion: input.toVersion!, actor: input.actor ?? 'cli' });
    return { status: 'rolled back', version: r.version, reasons: [] };
  }
  return acts.publishManifest({
    tenantId: input.tenantId,
    runId: input.runId!,
    replayShare: input.replayShare,
    policy: input.policy,
    threshold: input.threshold,
    actor: input.actor ?? 'retrain',
  });
}

/** Publishes through the tenant's single publisher workflow; if another publish or rollback runs, waits its turn. */
export async function publishSerially(tenantId: string, args: PublishInput) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await executeChild(publishWorkflow, { workflowId: ids.publish(tenantId), args: [args], parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || attempt > 360) throw err;
      await sleep('10 seconds');
    }
  }
}
