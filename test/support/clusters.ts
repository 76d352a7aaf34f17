import type { Db } from '../../src/db/client';
import { clusterSnapshots, clusters } from '../../src/db/schema';
import { toBytes } from '../../src/embeddings/cache';

/** An active cluster (a route) with its snapshot in a clustering run, as a clustering run records them. */
export async function addRouteCluster(
  db: Db,
  c: { tenantId: string; id: string; query: string; centroid: Float32Array; embeddingModel: string; runId: string; share: number },
  over: Partial<typeof clusters.$inferInsert> = {},
): Promise<void> {
  const centroid = toBytes(c.centroid);
  await db.insert(clusters).values({
    id: c.id,
    tenantId: c.tenantId,
    status: 'active',
    label: c.query.toLowerCase(),
    keywords: [],
    embeddingModel: c.embeddingModel,
    centroid,
    firstRunId: c.runId,
    lastRunId: c.runId,
    ...over,
  });
  await db.insert(clusterSnapshots).values({
    runId: c.runId,
    clusterId: c.id,
    size: 10,
    distinctQueries: 3,
    share: c.share,
    cohesion: 0.9,
    label: c.query.toLowerCase(),
    keywords: [],
    representatives: [{ text: c.query, count: 3 }],
    centroid,
  });
}
