import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ReplayPolicy, ReplayReport } from '../src/manifest/replay';

export interface PublishInput {
  tenantId: string;
  mode: 'publish' | 'rollback';
  /** publish: the run this manifest belongs to (a retried publish of the same run finds its version). */
  runId?: string;
  /** rollback: the version to serve again. */
  toVersion?: number;
  actor?: string;
  replayShare?: number;
  policy?: Partial<ReplayPolicy>;
  threshold?: number;
}

export interface PublishOutput {
  status: 'published' | 'refused' | 'rolled back';
  version?: number;
  reasons: string[];
  /** The savings replay behind a publish (or a refusal): share and cost per tier, quality. */
  replay?: ReplayReport;
}

const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes: ['InputError'] },
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
  return acts.publishManifest({ tenantId: input.tenantId, runId: input.runId!, replayShare: input.replayShare, policy: input.policy, threshold: input.threshold, actor: input.actor ?? 'retrain' });
}
