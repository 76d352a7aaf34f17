import { and, eq, sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { cheapTrials } from '../db/schema';
import { acceptedSql, latestFeedbackSql } from '../interactions/store';
import type { ChatMessage } from '../interactions/record';

/** The promotion domain's table: cheap-model trials, resumable per (tenant, clustering run, route). */

export type CheapTrialRow = typeof cheapTrials.$inferSelect;

/** The trial of a route in a run, created on first use. */
export async function openTrial(db: Db, k: { tenantId: string; clusterRunId: string; routeId: string; model: string }): Promise<CheapTrialRow> {
  await db
    .insert(cheapTrials)
    .values({ ...k, status: 'running' })
    .onConflictDoNothing();
  const [row] = await db
    .select()
    .from(cheapTrials)
    .where(and(eq(cheapTrials.tenantId, k.tenantId), eq(cheapTrials.clusterRunId, k.clusterRunId), eq(cheapTrials.routeId, k.routeId)));
  return row!;
}

/** Adds judged answers (merged: a retry re-adds the same keys) and their cost. */
export async function addTrialAnswers(
  db: Db,
  k: Pick<CheapTrialRow, 'tenantId' | 'clusterRunId' | 'routeId'>,
  answers: Record<string, number>,
  costUsd: number,
) {
  await db
    .update(cheapTrials)
    .set({
      answers: sql`${cheapTrials.answers} || ${JSON.stringify(answers)}::jsonb`,
      costUsd: sql`${cheapTrials.costUsd} + ${costUsd}`,
      updatedAt: sql`now()`,
    })
    .where(and(eq(cheapTrials.tenantId, k.tenantId), eq(cheapTrials.clusterRunId, k.clusterRunId), eq(cheapTrials.routeId, k.routeId)));
}

export async function closeTrial(
  db: Db,
  k: Pick<CheapTrialRow, 'tenantId' | 'clusterRunId' | 'routeId'>,
  status: 'promoted' | 'refused' | 'skipped',
  reason: string,
): Promise<void> {
  await db
    .update(cheapTrials)
    .set({ status, reason, updatedAt: sql`now()` })
    .where(and(eq(cheapTrials.tenantId, k.tenantId), eq(cheapTrials.clusterRunId, k.clusterRunId), eq(cheapTrials.routeId, k.routeId)));
}

export async function trialsOfRun(db: Db, tenantId: string, clusterRunId: string): Promise<CheapTrialRow[]> {
  return db
    .select()
    .from(cheapTrials)
    .where(and(eq(cheapTrials.tenantId, tenantId), eq(cheapTrials.clusterRunId, clusterRunId)));
}

/** A route's accepted interactions in a clustering run, with the messages the teacher was sent, by id. */
export async function routeInteractions(
  db: Db,
  clusterRunId: string,
  clusterId: string,
): Promise<Array<{ id: number; messages: ChatMessage[]; answer: string }>> {
  const rows = rowsOf<{ id: string | number; messages: ChatMessage[]; answer: string }>(
    await db.execute(sql`
      select i.id, i.messages, coalesce(f.corrected_answer, i.answer_text) as answer
      from cluster_members m
      join interactions i on i.id = m.interaction_id
      join lateral ${latestFeedbackSql(sql`i.id`)} f on true
      where m.run_id = ${clusterRunId} and m.cluster_id = ${clusterId} and ${acceptedSql('f')}
      order by i.id`),
  );
  return rows.map((r) => ({ id: Number(r.id), messages: r.messages, answer: r.answer }));
}
