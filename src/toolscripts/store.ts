import { sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { acceptedSql, latestFeedbackSql } from '../interactions/store';
import type { StoredInteraction } from './trace';

/**
 * What tool-script mining reads. Its candidates are saved by graduation's store (kind `toolscript`, see
 * graduate.ts), so the review workflow, the decision record and the tier entry are the template machinery unchanged.
 */

/**
 * Accepted interactions of a clustering run's clusters that are part of a tool loop (a `tool` message in their
 * history, or an answer that calls tools), with what a trace needs (messages, tools, response). Only those: the
 * rest of a run can be millions of rows.
 */
export async function runToolLoops(db: Db, clusterRunId: string): Promise<Array<StoredInteraction & { clusterId: string }>> {
  const rows = rowsOf<{
    cluster_id: string;
    id: number | string;
    query_text: string;
    messages: StoredInteraction['messages'];
    request_params: StoredInteraction['requestParams'];
    response: StoredInteraction['response'];
    corrected: string | null;
  }>(
    await db.execute(sql`
      select m.cluster_id, i.id, i.query_text, i.messages, i.request_params, i.response, f.corrected_answer as corrected
      from cluster_members m
      join interactions i on i.id = m.interaction_id
      join lateral ${latestFeedbackSql(sql`i.id`)} f on true
      where m.run_id = ${clusterRunId} and (i.messages @> '[{"role": "tool"}]'::jsonb or jsonb_typeof(i.response->'choices'->0->'message'->'tool_calls') = 'array') and ${acceptedSql('f')}
      order by i.id`),
  );
  return rows.map((r) => ({
    clusterId: r.cluster_id,
    id: String(r.id),
    queryText: r.query_text,
    messages: r.messages,
    requestParams: r.request_params,
    response: r.response,
    ...(r.corrected ? { answer: r.corrected } : {}),
  }));
}
