import { sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { textOf } from '../interactions/record';
import type { DatasetSourceRow } from './types';

/**
 * The interactions of a clustering run's clusters (all of them, or those named), with their latest feedback: what
 * the dataset builder filters. Interactions with no feedback count as not accepted.
 */
export async function loadDatasetRows(db: Db, clusterRunId: string, clusterIds?: string[]): Promise<DatasetSourceRow[]> {
  const filter = clusterIds?.length ? sql`and m.cluster_id in (select jsonb_array_elements_text(${JSON.stringify(clusterIds)}::jsonb))` : sql``;
  const rows = rowsOf<{ id: string | number; cluster_id: string; messages: Array<{ role: string; content: unknown }>; answer_text: string; kind: string | null; score: number | null; corrected_answer: string | null }>(
    await db.execute(sql`
      select i.id, m.cluster_id, i.messages, i.answer_text, f.kind, f.score, f.corrected_answer
      from cluster_members m
      join interactions i on i.id = m.interaction_id
      left join lateral (select kind, score, corrected_answer from feedback f where f.interaction_id = i.id order by f.created_at desc, f.id desc limit 1) f on true
      where m.run_id = ${clusterRunId} ${filter}
      order by i.id`),
  );
  return rows.map((r) => ({
    interactionId: Number(r.id),
    clusterId: r.cluster_id,
    messages: r.messages.flatMap((m) => {
      const content = textOf(m.content as Parameters<typeof textOf>[0]) ?? null;
      // Tool calls and other non-text turns carry no text to learn from; they are left out, not turned into "null".
      return content === null ? [] : [{ role: m.role, content }];
    }),
    answer: r.answer_text,
    correctedAnswer: r.kind === 'edited' ? r.corrected_answer : null,
    accepted: r.kind === 'accepted' || r.kind === 'edited' || (r.kind === 'score' && (r.score ?? 0) >= 0.5),
  }));
}

