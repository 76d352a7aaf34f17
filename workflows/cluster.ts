import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ClusterRunStats } from '../activities/cluster';
import type { ClusterParams } from '../src/clustering/cluster';

export interface ClusterInput {
  tenantId: string;
  /** ISO times; the snapshot is the interactions of [from, to). */
  from?: string;
  to?: string;
  acceptedOnly?: boolean;
  params?: Partial<ClusterParams>;
}

export interface ClusterOutput extends ClusterRunStats {
  runId: string;
}

const { snapshotQueries, embedQueries, clusterAndRecord } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 10, nonRetryableErrorTypes: ['InputError'] },
});

/**
 * Clusters a tenant's queries for a period: snapshot (normalise, mask, collapse duplicates) → embed (cached) →
 * cluster and give stable identities → record. Intermediate data (queries, vectors) lives in the blob store; the
 * workflow passes only keys. Each step is idempotent, so a crash anywhere resumes without double effects.
 */
export async function clusterWorkflow(input: ClusterInput): Promise<ClusterOutput> {
  const info = workflowInfo();
  const runId = `${info.workflowId}@${info.firstExecutionRunId}`;
  const snapshot = await snapshotQueries({ runId, workflowId: info.workflowId, tenantId: input.tenantId, from: input.from, to: input.to, acceptedOnly: input.acceptedOnly });
  const embedded = await embedQueries({ runId, queriesKey: snapshot.queriesKey });
  const stats = await clusterAndRecord({ runId, tenantId: input.tenantId, queriesKey: snapshot.queriesKey, ...embedded, params: input.params });
  return { runId, ...stats };
}
