import { runSnapshots } from '../src/clustering/store';
import type { Db } from '../src/db/client';
import { activateAdapter } from '../src/distill/store';
import { failRun, finishRun, getRun, recordRunStage } from '../src/runs/store';
import { servedRoutes } from '../src/tiers/store';

export interface RetrainDeps {
  db: Db;
}

/** Activities of the retrain workflow's own bookkeeping and its tier updates (all idempotent). */
export function createRetrainActivities({ db }: RetrainDeps) {
  return {
    /** The run record: one row per retrain, each stage's wall time and figures merged into its stats. */
    async recordRetrainStage(input: {
      runId: string;
      tenantId: string;
      workflowId: string;
      stage: string;
      seconds: number;
      stats: Record<string, unknown>;
    }): Promise<void> {
      await recordRunStage(db, {
        id: input.runId,
        kind: 'retrain',
        tenantId: input.tenantId,
        workflowId: input.workflowId,
        stage: input.stage,
        entry: { seconds: Math.round(input.seconds * 10) / 10, ...input.stats },
      });
    },

    async finishRetrain(input: { runId: string; status: 'completed' | 'failed'; error?: string }): Promise<void> {
      if (input.status === 'failed') {
        const r = await getRun(db, input.runId);
        if (r) await failRun(db, { runId: r.id, kind: 'retrain', tenantId: r.tenantId ?? '', workflowId: r.workflowId, error: input.error ?? 'failed' });
      } else await finishRun(db, input.runId, 'retrain');
    },

    /** The largest clusters of the run that no template or active adapter serves: what to distil next. */
    async pickDistillCategories(input: { tenantId: string; clusterRunId: string; maxCategories: number; minShare: number }): Promise<string[]> {
      const snaps = await runSnapshots(db, input.clusterRunId);
      const big = snaps.filter((s) => s.share >= input.minShare).map((s) => s.clusterId);
      if (!big.length) return [];
      const served = await servedRoutes(db, input.tenantId, big);
      return big.filter((id) => !served.has(id)).slice(0, input.maxCategories);
    },

    async activateAdapters(input: { tenantId: string; adapterIds: string[] }): Promise<Array<{ adapterId: string; routes: number }>> {
      const out: Array<{ adapterId: string; routes: number }> = [];
      for (const id of input.adapterIds) out.push({ adapterId: id, routes: (await activateAdapter(db, input.tenantId, id)).routes.length });
      return out;
    },
  };
}
