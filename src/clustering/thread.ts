import { createHash } from 'node:crypto';
import type { ThreadTask } from '../threads/run';
import { type ClusterParams, type ClusterResult, clusterQueries } from './cluster';
import { type ClusterDescription, describeClusters } from './describe';
import { type IdentityResult, type PriorCluster, assignIdentities } from './identity';

export interface ClusterTaskInput {
  tenantId: string;
  runId: string;
  /** Distinct queries of the snapshot: n × dims vectors (moved to the thread), texts and traffic weights. */
  vectors: Float32Array;
  dims: number;
  texts: string[];
  weights: number[];
  params?: Partial<ClusterParams>;
  /** The tenant's earlier clusters of the same embedding model (for stable identities). */
  prior: PriorCluster[];
}

export interface ClusterTaskOutput {
  result: ClusterResult;
  identity: IdentityResult;
  described: ClusterDescription[];
}

/** A new cluster's id: derived from tenant, run and index, so a retried run names its clusters the same way. */
export const newClusterId = (tenantId: string, runId: string, c: number) =>
  `c_${createHash('sha256').update(`${tenantId}\n${runId}\n${c}`).digest('hex').slice(0, 12)}`;

/**
 * The CPU-bound part of a clustering run — cluster, give stable identities, describe — as one pure step that runs in
 * a worker thread (src/threads/run.ts), so the activity's event loop keeps heartbeating at any scale.
 */
export function clusterSnapshot(input: ClusterTaskInput, progress: (details: unknown) => void = () => {}): ClusterTaskOutput {
  progress({ phase: 'clustering', distinct: input.texts.length });
  const result = clusterQueries({ vectors: input.vectors, dims: input.dims, weights: input.weights }, input.params);
  const k = result.weight.length;
  progress({ phase: 'identities', clusters: k });
  const identity = assignIdentities(input.prior, { centroids: result.centroids, dims: input.dims }, (c) => newClusterId(input.tenantId, input.runId, c));
  progress({ phase: 'describing', clusters: k });
  const described = describeClusters(input.texts, input.weights, result.assignment, result.similarity, k);
  return { result, identity, described };
}

export const clusterSnapshotTask: ThreadTask<ClusterTaskInput, ClusterTaskOutput> = async (input, progress) => {
  const out = clusterSnapshot(input, progress);
  const r = out.result;
  return { result: out, transfer: [r.assignment, r.centroids, r.weight, r.distinct, r.cohesion, r.similarity].map((a) => a.buffer as ArrayBuffer) };
};
