import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type ClusterInput, type ClusterOutput, RETRY, runRecordId } from '../src/temporal/contract';
import { recordingFailure } from './failure';

const { snapshotQueries, embedQueries, clusterAndRecord, failRun } = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: RETRY.long,
});

/**
 * Clusters a tenant's queries for a period: snapshot (normalise, mask, collapse duplicates) → embed (cached) →
 * cluster and give stable identities → record. Intermediate data (queries, vectors) lives in the blob store; the
 * workflow passes only keys. Each step is idempotent, so a crash anywhere resumes without double effects. A failure
 * marks the run record failed with its reason.
 */
export async function clusterWorkflow(input: ClusterInput): Promise<ClusterOutput> {
  const info = workflowInfo();
  const runId = runRecordId(info.workflowId, info.firstExecutionRunId);
  const body = async () => {
    const snapshot = await snapshotQueries({
      runId,
      workflowId: info.workflowId,
      tenantId: input.tenantId,
      from: input.from,
      to: input.to,
      acceptedOnly: input.acceptedOnly,
    });
    const embedded = await embedQueries({ runId, queriesKey: snapshot.queriesKey });
    const stats = await clusterAndRecord({ runId, tenantId: input.tenantId, queriesKey: snapshot.queriesKey, ...embedded, params: input.params });
    return { runId, ...stats };
  };
  // Executions started before the failure bookkeeping replay without it (see README "Versioning workflows").
  if (!patched('cluster-fail-run')) return body();
  return recordingFailure(body, (error) => failRun({ runId, kind: 'cluster', tenantId: input.tenantId, workflowId: info.workflowId, error }));
}
