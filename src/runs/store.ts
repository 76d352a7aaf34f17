import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { runs } from '../db/schema';
import type { ClusterEventKind, RunKind, RunStatus } from '../vocabulary';

/**
 * The `runs` table's one home. Every pipeline run (ingest, cluster, retrain) is one row with the same life:
 * startRun (running) → finishRun (completed, with its figures) or failRun (failed, with the reason). What `params`
 * and `stats` hold depends on the kind, and is typed per kind below, so a reader of a run knows its shape.
 */

export interface IngestRunStats {
  files: number;
  lines: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The rejected-lines report in the blob store, or null when every line was stored. */
  reportUri: string | null;
}

export interface ClusterRunStats {
  interactions: number;
  distinct: number;
  clusters: number;
  clusteredShare: number;
  events: Record<ClusterEventKind, number>;
}

/** One retrain stage's wall time (seconds, one decimal) and whatever figures the stage reported. */
export type RetrainStage = { seconds: number } & Record<string, unknown>;

export interface RunShapes {
  ingest: { params: { source: string; files: number }; stats: IngestRunStats };
  cluster: { params: { from?: string; to?: string; acceptedOnly: boolean }; stats: ClusterRunStats };
  /** A retrain's stats grow stage by stage (recordRunStage) while it runs; finishing adds nothing. */
  retrain: { params: Record<string, never>; stats: { stages: Record<string, RetrainStage> } };
}
export type RunParams = RunShapes[RunKind]['params'];
export type RunStats = RunShapes[RunKind]['stats'] | Record<string, never>;

export type RunRow = typeof runs.$inferSelect;

/** Records a run as running. Idempotent: a retried start finds its row and changes nothing. */
export async function startRun<K extends RunKind>(db: Db, r: { id: string; kind: K; tenantId: string; workflowId: string; params: RunShapes[K]['params'] }): Promise<void> {
  await db.insert(runs).values({ id: r.id, kind: r.kind, tenantId: r.tenantId, workflowId: r.workflowId, status: 'running', params: r.params }).onConflictDoNothing();
}

/**
 * Merges one stage's figures into a run's `stats.stages` (creating the run, as running, on its first stage), so a
 * long run shows how far it got. Idempotent: a retried stage overwrites its own entry.
 */
export async function recordRunStage(db: Db, r: { id: string; kind: 'retrain'; tenantId: string; workflowId: string; stage: string; entry: RetrainStage }): Promise<void> {
  const entry = { [r.stage]: r.entry };
  await db
    .insert(runs)
    .values({ id: r.id, kind: r.kind, tenantId: r.tenantId, workflowId: r.workflowId, status: 'running', stats: { stages: entry } })
    .onConflictDoUpdate({ target: runs.id, set: { stats: sql`jsonb_set(${runs.stats}, '{stages}', coalesce(${runs.stats}->'stages', '{}'::jsonb) || ${JSON.stringify(entry)}::jsonb)` } });
}

/**
 * Marks a run completed with its figures. `stats` omitted keeps what the run recorded along the way (a retrain's
 * stages). Pass a transaction as `db` to complete the run with the rows it produced.
 */
export async function finishRun<K extends RunKind>(db: Db, id: string, _kind: K, stats?: RunShapes[K]['stats']): Promise<void> {
  await db.update(runs).set({ status: 'completed', ...(stats ? { stats } : {}), error: null, finishedAt: sql`now()` }).where(eq(runs.id, id));
}

/** Marks a run failed with the reason a person reads in `distillery runs`. */
export async function failRun(db: Db, id: string, reason: string): Promise<void> {
  await db.update(runs).set({ status: 'failed', error: reason, finishedAt: sql`now()` }).where(eq(runs.id, id));
}

export async function getRun(db: Db, id: string): Promise<RunRow | undefined> {
  const [r] = await db.select().from(runs).where(eq(runs.id, id));
  return r;
}

/** A completed run's figures, or undefined while it has not completed (an activity's idempotence check). */
export async function completedStats<K extends RunKind>(db: Db, id: string, kind: K): Promise<RunShapes[K]['stats'] | undefined> {
  const [r] = await db.select({ stats: runs.stats, status: runs.status }).from(runs).where(and(eq(runs.id, id), eq(runs.kind, kind)));
  return r?.status === 'completed' ? (r.stats as RunShapes[K]['stats']) : undefined;
}

/** The tenant's latest completed run of a kind (by finish time), or undefined. */
export async function latestCompletedRun(db: Db, kind: RunKind, tenantId: string): Promise<string | undefined> {
  const [r] = await db.select({ id: runs.id }).from(runs).where(and(eq(runs.kind, kind), eq(runs.tenantId, tenantId), eq(runs.status, 'completed'))).orderBy(desc(runs.finishedAt)).limit(1);
  return r?.id;
}

/** Recent runs, newest first, optionally of one kind. */
export async function listRuns(db: Db, opts: { kind?: RunKind; limit: number }): Promise<RunRow[]> {
  return db.select().from(runs).where(opts.kind ? eq(runs.kind, opts.kind) : undefined).orderBy(desc(runs.startedAt)).limit(opts.limit);
}

export type { RunKind, RunStatus };
