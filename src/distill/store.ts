import { and, desc, eq, sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { adapters, datasets, finetuneJobs } from '../db/schema';
import { InputError, ConflictError, NotFoundError } from '../errors';
import type { ChatMessage } from '../interactions/record';
import { textOf } from '../interactions/record';
import { isAccepted, latestFeedbackSql } from '../interactions/store';
import { activeTierEntry, putTierEntry } from '../tiers/store';
import type { FeedbackKind, Runner } from '../vocabulary';
import type { DatasetSourceRow, TrainerConfig } from './types';

/** The distillation domain's tables: datasets, fine-tune jobs and the adapters they produce. */

export type DatasetRow = typeof datasets.$inferSelect;
export type JobRow = typeof finetuneJobs.$inferSelect;
export type AdapterRow = typeof adapters.$inferSelect;

/**
 * The interactions of a clustering run's clusters (all of them, or those named), with their latest feedback: what
 * the dataset builder filters. Interactions with no feedback count as not accepted.
 */
export async function loadDatasetRows(db: Db, clusterRunId: string, clusterIds?: string[]): Promise<DatasetSourceRow[]> {
  const filter = clusterIds?.length ? sql`and m.cluster_id in (select jsonb_array_elements_text(${JSON.stringify(clusterIds)}::jsonb))` : sql``;
  const rows = rowsOf<{
    id: string | number;
    cluster_id: string;
    messages: ChatMessage[];
    answer_text: string;
    kind: FeedbackKind | null;
    score: number | null;
    corrected_answer: string | null;
  }>(
    await db.execute(sql`
      select i.id, m.cluster_id, i.messages, i.answer_text, f.kind, f.score, f.corrected_answer
      from cluster_members m
      join interactions i on i.id = m.interaction_id
      left join lateral ${latestFeedbackSql(sql`i.id`)} f on true
      where m.run_id = ${clusterRunId} ${filter}
      order by i.id`),
  );
  return rows.map((r) => ({
    interactionId: Number(r.id),
    clusterId: r.cluster_id,
    messages: r.messages.flatMap((m) => {
      const content = textOf(m.content) ?? null;
      // Tool calls and other non-text turns carry no text to learn from; they are left out, not turned into "null".
      return content === null ? [] : [{ role: m.role, content }];
    }),
    answer: r.answer_text,
    correctedAnswer: r.kind === 'edited' ? r.corrected_answer : null,
    accepted: isAccepted(r),
  }));
}

/** Records a dataset (content-addressed: the same data twice is the same row). */
export async function saveDataset(db: Db, d: typeof datasets.$inferInsert): Promise<void> {
  await db.insert(datasets).values(d).onConflictDoNothing();
}

export async function getDataset(db: Db, id: string): Promise<DatasetRow | undefined> {
  const [row] = await db.select().from(datasets).where(eq(datasets.id, id));
  return row;
}

export async function listDatasets(db: Db, tenantId: string): Promise<DatasetRow[]> {
  return db.select().from(datasets).where(eq(datasets.tenantId, tenantId)).orderBy(desc(datasets.createdAt));
}

/** Records a job as running. Idempotent (one job per workflow run: the caller derives the id from the workflow id). */
export async function startJob(
  db: Db,
  j: { id: string; tenantId: string; datasetId: string; runner: Runner; config: TrainerConfig; workflowId: string },
): Promise<void> {
  await db
    .insert(finetuneJobs)
    .values({ ...j, status: 'running' })
    .onConflictDoNothing();
}

/** Ends a job that produced no adapter (a successful one ends in registerAdapter). */
export async function endJob(db: Db, id: string, status: 'failed' | 'cancelled', error: string | null): Promise<void> {
  await db
    .update(finetuneJobs)
    .set({ status, error, updatedAt: sql`now()` })
    .where(eq(finetuneJobs.id, id));
}

export async function getJob(db: Db, id: string): Promise<JobRow | undefined> {
  const [job] = await db.select().from(finetuneJobs).where(eq(finetuneJobs.id, id));
  return job;
}

/** A job by its id or its workflow id (what `jobs status` accepts). */
export async function findJob(db: Db, idOrWorkflow: string): Promise<JobRow> {
  const [job] = await db
    .select()
    .from(finetuneJobs)
    .where(idOrWorkflow.startsWith('finetune:') ? eq(finetuneJobs.workflowId, idOrWorkflow) : eq(finetuneJobs.id, idOrWorkflow));
  if (!job) throw new NotFoundError('job', `no fine-tune job "${idOrWorkflow}": see \`distillery jobs list --tenant T\``);
  return job;
}

export async function listJobs(db: Db, tenantId: string): Promise<JobRow[]> {
  return db.select().from(finetuneJobs).where(eq(finetuneJobs.tenantId, tenantId)).orderBy(desc(finetuneJobs.createdAt));
}

/**
 * Registers the gate's verdict on a job: the adapter (candidate or rejected, with evaluation and lineage) and the
 * job succeeded with its metrics, in one transaction. Idempotent on the adapter id.
 */
export async function registerAdapter(
  db: Db,
  a: Omit<typeof adapters.$inferInsert, 'createdAt' | 'updatedAt'>,
  job: { metrics: Record<string, unknown>; adapterKey: string | null },
): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    await t.insert(adapters).values(a).onConflictDoNothing();
    await t
      .update(finetuneJobs)
      .set({ status: 'succeeded', metrics: job.metrics, adapterKey: job.adapterKey, updatedAt: sql`now()` })
      .where(eq(finetuneJobs.id, a.jobId));
  });
}

/** An adapter by id alone (the gate's idempotence check), or undefined. */
export async function findAdapter(db: Db, id: string): Promise<AdapterRow | undefined> {
  const [a] = await db.select().from(adapters).where(eq(adapters.id, id));
  return a;
}

export async function listAdapters(db: Db, tenantId: string): Promise<AdapterRow[]> {
  return db.select().from(adapters).where(eq(adapters.tenantId, tenantId)).orderBy(desc(adapters.createdAt));
}

export async function getAdapter(db: Db, tenantId: string, id: string): Promise<AdapterRow> {
  const [a] = await db
    .select()
    .from(adapters)
    .where(and(eq(adapters.id, id), eq(adapters.tenantId, tenantId)));
  if (!a) throw new NotFoundError('adapter', `no adapter "${id}" for tenant ${tenantId}: see \`distillery adapters list --tenant ${tenantId}\``);
  return a;
}

/**
 * Activates a candidate adapter: status active and an `adapter` tier entry for each cluster of its dataset, except
 * routes a template already serves (a template is cheaper). Entries it replaces are closed, not deleted.
 */
export async function activateAdapter(db: Db, tenantId: string, id: string): Promise<{ routes: string[]; skipped: string[] }> {
  const a = await getAdapter(db, tenantId, id);
  if (a.status === 'rejected') throw new ConflictError('adapter', `adapter ${id} was rejected by the evaluation gate: ${a.evaluation.reasons.join('; ')}`);
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const routes: string[] = [];
    const skipped: string[] = [];
    for (const routeId of a.lineage.clusterIds) {
      const current = await activeTierEntry(t, tenantId, routeId);
      if (current?.tier === 'template') {
        skipped.push(routeId);
        continue;
      }
      if (current && current.target.adapterId === id) {
        routes.push(routeId);
        continue;
      }
      await putTierEntry(t, {
        tenantId,
        routeId,
        tier: 'adapter',
        target: {
          adapterId: id,
          name: a.name,
          baseModel: a.baseModel,
          // how to call it: the manifest's AdapterTarget pins the base and the adapter by digest when known
          ...(a.lineage.config.baseModelDigest ? { baseModelDigest: a.lineage.config.baseModelDigest } : {}),
          ...(typeof a.lineage.metrics.adapterDigest === 'string' ? { adapterDigest: a.lineage.metrics.adapterDigest } : {}),
          uri: a.uri,
        },
        evidence: { evaluation: a.evaluation, datasetId: a.datasetId, jobId: a.jobId },
      });
      routes.push(routeId);
    }
    await t
      .update(adapters)
      .set({ status: 'active', updatedAt: sql`now()` })
      .where(eq(adapters.id, id));
    return { routes, skipped };
  });
}

/** The tenant's adapters by serving name, with their gate evaluations (what a publish replay projects quality from). */
export async function adapterEvaluations(db: Db, tenantId: string): Promise<Array<Pick<AdapterRow, 'name' | 'evaluation'>>> {
  return db.select({ name: adapters.name, evaluation: adapters.evaluation }).from(adapters).where(eq(adapters.tenantId, tenantId));
}
