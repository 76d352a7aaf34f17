import { Context } from '@temporalio/activity';
import type { BlobStore } from '../src/blob';
import type { ClusterParams } from '../src/clustering/cluster';
import type { ClusterTaskInput, ClusterTaskOutput } from '../src/clustering/thread';
import { runInThread } from '../src/threads/run';
import { dedupKey } from '../src/clustering/dedup';
import { normalizeQuery } from '../src/serving/normalize';
import { pageQueries, priorIdentities, recordClusterRun } from '../src/clustering/store';
import type { Db } from '../src/db/client';
import { embedWithCache, fromBytes, toBytes } from '../src/embeddings/cache';
import type { EmbedderSource } from '../src/embeddings/lazy';
import { InputError } from '../src/errors';
import { completedStats, startRun } from '../src/runs/store';
import type { ClusterRunStats } from '../src/temporal/contract';
import { findTenant } from '../src/tenants/store';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';

const CLUSTER_TASK = new URL('../src/clustering/thread.ts', import.meta.url);

export interface ClusterDeps {
  db: Db;
  blob: BlobStore;
  /** The embedder, created on first use (see lazyEmbedder). */
  embedder: EmbedderSource;
}

export interface SnapshotInput {
  runId: string;
  workflowId: string;
  tenantId: string;
  /** ISO times; the period is [from, to). */
  from?: string;
  to?: string;
  /** Only interactions whose latest feedback accepted them (accepted, edited, or score ≥ 0.5). */
  acceptedOnly?: boolean;
}

export interface QueriesRef {
  queriesKey: string;
  interactions: number;
  distinct: number;
}

/** One distinct normalised query of a snapshot: its text, how often it came, and which interactions said it. */
interface SnapshotQuery {
  t: string;
  n: number;
  ids: number[];
}

const PAGE = 20_000;

export function createClusterActivities({ db, blob, embedder }: ClusterDeps) {
  const runPrefix = (runId: string) => `clustering/${runId.replace(/[^A-Za-z0-9._-]+/g, '_')}`;

  return {
    /**
     * Reads the period's interactions page by page, normalises and masks their queries, collapses exact duplicates
     * with counts, and writes the distinct queries to the blob store (the workflow only carries the key).
     */
    async snapshotQueries(input: SnapshotInput): Promise<QueriesRef> {
      return failFastOnInput(async () => {
        const ctx = Context.current();
        const tenant = await findTenant(db, input.tenantId);
        if (!tenant) throw new InputError('tenant', `unknown tenant "${input.tenantId}": create it with \`distillery tenant create ${input.tenantId}\``);
        await startRun(db, {
          id: input.runId,
          kind: 'cluster',
          tenantId: input.tenantId,
          workflowId: input.workflowId,
          params: { from: input.from, to: input.to, acceptedOnly: !!input.acceptedOnly },
        });
        const byKey = new Map<string, SnapshotQuery>();
        let total = 0;
        let after = 0;
        for (;;) {
          const page = await pageQueries(db, {
            tenantId: input.tenantId,
            from: input.from,
            to: input.to,
            acceptedOnly: input.acceptedOnly,
            after,
            limit: PAGE,
          });
          for (const row of page) {
            const normalized = normalizeQuery(row.q);
            const key = dedupKey(normalized);
            const entry = byKey.get(key);
            if (entry) {
              entry.n++;
              entry.ids.push(row.id);
            } else byKey.set(key, { t: normalized.text, n: 1, ids: [row.id] });
          }
          total += page.length;
          ctx.heartbeat({ read: total });
          if (page.length < PAGE) break;
          after = page[page.length - 1]!.id;
        }
        const queriesKey = `${runPrefix(input.runId)}/queries.jsonl`;
        await blob.put(queriesKey, [...byKey.values()].map((q) => JSON.stringify(q)).join('\n') + '\n', { contentType: 'application/x-ndjson' });
        return { queriesKey, interactions: total, distinct: byKey.size };
      });
    },

    /** Embeds the distinct queries (cached by model and text hash) and writes the vectors as Float32 to the blob store. */
    async embedQueries(input: { runId: string; queriesKey: string }): Promise<{ vectorsKey: string; dims: number; model: string }> {
      const ctx = Context.current();
      const model = await embedder();
      const queries = await readQueries(blob, input.queriesKey);
      const vectors = new Float32Array(queries.length * model.dims);
      const BATCH = 4096;
      for (let i = 0; i < queries.length; i += BATCH) {
        const part = await embedWithCache(
          db,
          model,
          queries.slice(i, i + BATCH).map((q) => q.t),
        );
        part.forEach((v, j) => vectors.set(v, (i + j) * model.dims));
        ctx.heartbeat({ embedded: Math.min(queries.length, i + BATCH) });
      }
      const vectorsKey = `${runPrefix(input.runId)}/vectors.f32`;
      await blob.put(vectorsKey, toBytes(vectors));
      return { vectorsKey, dims: model.dims, model: model.id };
    },

    /**
     * Clusters the run's queries, gives the clusters stable identities against the tenant's earlier clusters, and
     * records everything in one transaction. Idempotent: a run already recorded returns its figures.
     */
    async clusterAndRecord(input: {
      runId: string;
      tenantId: string;
      queriesKey: string;
      vectorsKey: string;
      dims: number;
      model: string;
      params?: Partial<ClusterParams>;
    }) {
      const ctx = Context.current();
      const done = await completedStats(db, input.runId, 'cluster');
      if (done) return done;
      const queries = await readQueries(blob, input.queriesKey);
      const vectors = fromBytes(await blob.get(input.vectorsKey));
      const weights = queries.map((q) => q.n);
      const prior = await priorIdentities(db, input.tenantId, input.model);
      // The CPU-bound step runs in a worker thread: this event loop stays free, so the timer heartbeats (carrying the
      // thread's latest progress) keep flowing at any scale and the activity's cancellation terminates the thread.
      let phase: unknown = { phase: 'clustering', distinct: queries.length };
      // The timer heartbeats cover the recording too: a million member rows can take longer than the timeout.
      return withHeartbeat(
        async () => {
          const { result, identity, described } = await runInThread<ClusterTaskInput, ClusterTaskOutput>(
            CLUSTER_TASK,
            'clusterSnapshotTask',
            { tenantId: input.tenantId, runId: input.runId, vectors, dims: input.dims, texts: queries.map((q) => q.t), weights, params: input.params, prior },
            { transfer: [vectors.buffer as ArrayBuffer], onProgress: (p) => ctx.heartbeat((phase = p)), signal: ctx.cancellationSignal },
          );
          ctx.heartbeat((phase = { phase: 'recording', clusters: result.weight.length }));
          const k = result.weight.length;
          const totalWeight = weights.reduce((a, b) => a + b, 0);
          const clustered = result.weight.reduce((a, b) => a + b, 0);
          const stats: ClusterRunStats = {
            interactions: totalWeight,
            distinct: queries.length,
            clusters: k,
            clusteredShare: totalWeight ? clustered / totalWeight : 0,
            events: { new: 0, split: 0, merge: 0, retire: 0 },
          };
          for (const e of identity.events) stats.events[e.kind]++;

          const members: Array<{ interactionId: number; clusterId: string }> = [];
          queries.forEach((q, i) => {
            const c = result.assignment[i]!;
            if (c >= 0) for (const id of q.ids) members.push({ interactionId: id, clusterId: identity.ids[c]! });
          });
          await recordClusterRun(db, {
            runId: input.runId,
            tenantId: input.tenantId,
            model: input.model,
            clusters: described.map((d, c) => ({
              id: identity.ids[c]!,
              label: d.label,
              keywords: d.keywords,
              centroid: result.centroids.subarray(c * input.dims, (c + 1) * input.dims),
              size: result.weight[c]!,
              distinctQueries: result.distinct[c]!,
              share: totalWeight ? result.weight[c]! / totalWeight : 0,
              cohesion: result.cohesion[c]!,
              representatives: d.representatives,
            })),
            changes: identity.changes,
            events: identity.events,
            members,
            stats,
          });
          return stats;
        },
        () => phase,
      );
    },
  };
}

async function readQueries(blob: BlobStore, key: string): Promise<SnapshotQuery[]> {
  const text = (await blob.get(key)).toString('utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SnapshotQuery);
}
