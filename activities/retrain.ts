import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../src/db/client';
import { clusterSnapshots, runs, tierEntries } from '../src/db/schema';
import { activateAdapter } from '../src/distill/adapters';

export interface RetrainDeps {
  db: Db;
}

/** Activities of the retrain workflow's own bookkeeping and its tier updates (all idempotent). */
export function createRetrainActivities({ db }: RetrainDeps) {
  return {
    /** The run record: one row per retrain, each stage's wall time and figures merged into its stats. */
    async recordRetrainStage(input: { runId: string; tenantId: string; workflowId: string; stage: string; seconds: number; stats: Record<string, unknown> }): Promise<void> {
      const entry = { [input.stage]: { seconds: Math.round(input.seconds * 10) / 10, ...input.stats } };
      await db
        .insert(runs)
        .values({ id: input.runId, kind: 'retrain', tenantId: input.tenantId, workflowId: input.workflowId, status: 'running', stats: { stages: entry } })
        .onConflictDoUpdate({ target: runs.id, set: { stats: sql`jsonb_set(${runs.stats}, '{stages}', coalesce(${runs.stats}->'stages', '{}'::jsonb) || ${JSON.stringify(entry)}::jsonb)` } });
    },

    async finishRetrain(input: { runId: string; status: 'completed' | 'failed'; error?: string }): Promise<void> {
      await db.update(runs).set({ status: input.status, error: input.error ?? null, finishedAt: sql`now()` }).where(eq(runs.id, input.runId));
    },

    /** The largest clusters of the run that no template or active adapter serves: what to distil next. */
    async pickDistillCategories(input: { tenantId: string; clusterRunId: string; maxCategories: number; minShare: number }): Promise<string[]> {
      const snaps = await db.select({ id: clusterSnapshots.clusterId, share: clusterSnapshots.share }).from(clusterSnapshots).where(eq(clusterSnapshots.runId, input.clusterRunId)).orderBy(desc(clusterSnapshots.share));
      const big = snaps.filter((s) => s.share >= input.minShare).map((s) => s.id);
      if (!big.length) return [];
      const served = new Set(
        (await db.select({ id: tierEntries.routeId }).from(tierEntries).where(and(eq(tierEntries.tenantId, input.tenantId), eq(tierEntries.status, 'active'), inArray(tierEntries.routeId, big)))).map((r) => r.id),
      );
      return big.filter((id) => !served.has(id)).slice(0, input.maxCategories);
    },

    async activateAdapters(input: { tenantId: string; adapterIds: string[] }): Promise<Array<{ adapterId: string; routes: number }>> {
      const out: Array<{ adapterId: string; routes: number }> = [];
      for (const id of input.adapterIds) out.push({ adapterId: id, routes: (await activateAdapter(db, input.tenantId, id)).routes.length });
      return out;
    },
  };
}
