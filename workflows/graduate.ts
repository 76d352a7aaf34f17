import { ParentClosePolicy, WorkflowIdReusePolicy, proxyActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type GraduateInput, type GraduateOutput, ids, RETRY } from '../src/temporal/contract';
import { reviewWorkflow } from './review';

const { graduateRun } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '30 seconds',
  retry: RETRY.long,
});

/**
 * Graduates a clustering run: induce and verify candidates (one activity; evidence goes to Postgres), then start one
 * review workflow per candidate that passed. Reviews run on their own (they outlive this workflow), and the review
 * id is the candidate's, so a re-run never opens a second review of the same candidate.
 */
export async function graduateWorkflow(input: GraduateInput): Promise<GraduateOutput> {
  const out = await graduateRun({ tenantId: input.tenantId, clusterRunId: input.clusterRunId, policy: input.policy });
  const reviews: string[] = [];
  for (const p of out.pending) {
    const workflowId = ids.review(p.id);
    try {
      await startChild(reviewWorkflow, {
        workflowId,
        args: [
          {
            tenantId: input.tenantId,
            candidateId: p.id,
            remindEveryMs: input.remindEveryMs ?? 24 * 3600_000,
            expireAfterMs: input.expireAfterMs ?? 14 * 24 * 3600_000,
            publishDebounceMs: input.publishDebounceMs,
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
    } catch (err) {
      // Already under review (a re-run after a crash): nothing to start.
      if ((err as Error).name !== 'WorkflowExecutionAlreadyStartedError') throw err;
    }
    reviews.push(workflowId);
  }
  return { passed: out.passed, failed: out.failed, clustersConsidered: out.clustersConsidered, reviews };
}
