import { and, desc, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { runs } from '../db/schema';
import type { RunKind, RunStatus } from '../vocabulary';
import type { RetrainStage, RunShapes } from './types';

export type { ClusterRunStats, IngestRunStats, RetrainStage, RunParams, RunShapes, RunStats } from './types';

/** The `runs` table's one home: startRun → finishRun or failRun (types: src/runs/types.ts). */

export type RunRow = typeof runs.$inferSelect;

/** Records a run as running. Idempotent: a retried start finds its row and changes nothing. */
export async function startRun<K extends RunKind>(
  db: Db,
  r: { id: string; kind: K; tenantId: string; workflowId: string; params: RunShapes[K]['params'] },
): Promise<void> {
  await db
    .insert(runs)
    .values({ id: r.id, kind: r.kind, tenantId: r.tenantId, workflowId: r.workflowId, status: 'running', params: r.params })
    .onConflictDoNothing();
}

/**
 * Merges one stage's figures into a run's `stats.stages` (creating the run, as running, on its first stage), so a
 * long run shows how far it got. Idempotent: a retried stage overwrites its own entry.
 */
export async function recordRunStage(
  db: Db,
  r: { id: string; kind: 'retrain'; tenantId: string; workflowId: string; stage: string; entry: RetrainStage },
): Promise<void> {
  const entry = { [r.stage]: r.entry };
  await db
    .insert(runs)
    .values({ id: r.id, kind: r.kind, tenantId: r.tenantId, workflowId: r.workflowId, status: 'running', stats: { stages: entry } })
    .onConflictDoUpdate({
      target: runs.id,
      set: { stats: sql`jsonb_set(${runs.stats}, '{stages}', coalesce(${runs.stats}->'stages', '{}'::jsonb) || ${JSON.stringify(entry)}::jsonb)` },
    });
}

/**
 * Marks a run completed with its figures. `stats` omitted keeps what the run recorded along the way (a retrain's
 * stages). Pass a transaction as `db` to complete the run with the rows it produced.
 */
export async function finishRun<K extends RunKind>(db: Db, id: string, _kind: K, stats?: RunShapes[K]['stats']): Promise<void> {
  await db
    .update(runs)
    .set({ status: 'completed', ...(stats ? { stats } : {}), error: null, finishedAt: sql`now()` })
    .where(eq(runs.id, id));
}

/** Marks a run failed with the reason a person reads in `distillery runs`. */
/**
 * Marks a run failed with its reason. Upserts: a workflow that fails before its first activity wrote the record (an
 * unknown tenant, a bad source) still leaves one. A completed run is never turned into a failed one.
 */
export async function failRun(db: Db, r: { runId: string; kind: RunKind; tenantId: string; workflowId: string; error: string }): Promise<void> {
  await db
    .insert(runs)
    .values({ id: r.runId, kind: r.kind, tenantId: r.tenantId, workflowId: r.workflowId, status: 'failed', error: r.error, finishedAt: sql`now()` })
    .onConflictDoUpdate({ target: runs.id, set: { status: 'failed', error: r.error, finishedAt: sql`now()` }, setWhere: ne(runs.status, 'completed') });
}

export async function getRun(db: Db, id: string): Promise<RunRow | undefined> {
  const [r] = await db.select().from(runs).where(eq(runs.id, id));
  return r;
}

/** A completed run's figures, or undefined while it has not completed (an activity's idempotence check). */
export async function completedStats<K extends RunKind>(db: Db, id: string, kind: K): Promise<RunShapes[K]['stats'] | undefined> {
  const [r] = await db
    .select({ stats: runs.stats, status: runs.status })
    .from(runs)
    .where(and(eq(runs.id, id), eq(runs.kind, kind)));
  return r?.status === 'completed' ? (r.stats as RunShapes[K]['stats']) : undefined;
}

/** The tenant's latest completed run of a kind (by finish time), or undefined. */
export async function latestCompletedRun(db: Db, kind: RunKind, tenantId: string): Promise<string | undefined> {
  const [r] = await db
    .select({ id: runs.id })
    .from(runs)
    .where(and(eq(runs.kind, kind), eq(runs.tenantId, tenantId), eq(runs.status, 'completed')))
    .orderBy(desc(runs.finishedAt))
    .limit(1);
  return r?.id;
}

/** Recent runs, newest first, optionally of one kind. */
export async function listRuns(db: Db, opts: { kind?: RunKind; limit: number }): Promise<RunRow[]> {
  return db
    .select()
    .from(runs)
    .where(opts.kind ? eq(runs.kind, opts.kind) : undefined)
    .orderBy(desc(runs.startedAt))
    .limit(opts.limit);
}

export type { RunKind, RunStatus };
