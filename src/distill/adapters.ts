import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { adapters, finetuneJobs } from '../db/schema';
import { InputError } from '../errors';
import { activeTierEntry, putTierEntry } from '../tiers';

export async function findJob(db: Db, idOrWorkflow: string) {
  const [job] = await db.select().from(finetuneJobs).where(idOrWorkflow.startsWith('finetune:') ? eq(finetuneJobs.workflowId, idOrWorkflow) : eq(finetuneJobs.id, idOrWorkflow));
  if (!job) throw new InputError('job', `no fine-tune job "${idOrWorkflow}": see \`distillery jobs list --tenant T\``, 404);
  return job;
}

export async function listAdapters(db: Db, tenantId: string) {
  return db.select().from(adapters).where(eq(adapters.tenantId, tenantId)).orderBy(desc(adapters.createdAt));
}

export async function getAdapter(db: Db, tenantId: string, id: string) {
  const [a] = await db.select().from(adapters).where(and(eq(adapters.id, id), eq(adapters.tenantId, tenantId)));
  if (!a) throw new InputError('adapter', `no adapter "${id}" for tenant ${tenantId}: see \`distillery adapters list --tenant ${tenantId}\``, 404);
  return a;
}

/**
 * Activates a candidate adapter: status active and an `adapter` tier entry for each cluster of its dataset, except
 * routes a template already serves (a template is cheaper). Entries it replaces are closed, not deleted.
 */
export async function activateAdapter(db: Db, tenantId: string, id: string): Promise<{ routes: string[]; skipped: string[] }> {
  const a = await getAdapter(db, tenantId, id);
  if (a.status === 'rejected') throw new InputError('adapter', `adapter ${id} was rejected by the evaluation gate: ${(a.evaluation as { reasons: string[] }).reasons.join('; ')}`, 409);
  const lineage = a.lineage as { clusterIds: string[] };
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const routes: string[] = [];
    const skipped: string[] = [];
    for (const routeId of lineage.clusterIds) {
      const current = await activeTierEntry(t, tenantId, routeId);
      if (current?.tier === 'template') {
        skipped.push(routeId);
        continue;
      }
      if (current && (current.target as { adapterId?: string }).adapterId === id) {
        routes.push(routeId);
        continue;
      }
      await putTierEntry(t, {
        tenantId,
        routeId,
        tier: 'adapter',
        target: { adapterId: id, name: a.name, baseModel: a.baseModel, uri: a.uri },
        evidence: { evaluation: a.evaluation, datasetId: a.datasetId, jobId: a.jobId },
      });
      routes.push(routeId);
    }
    await t.update(adapters).set({ status: 'active', updatedAt: sql`now()` }).where(eq(adapters.id, id));
    return { routes, skipped };
  });
}
