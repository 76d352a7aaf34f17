import { desc, eq, sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { candidateVersions, candidates } from '../db/schema';
import { candidateId, stillPending } from '../graduation/store';
import { acceptedSql, latestFeedbackSql } from '../interactions/store';
import { describeScript } from './describe';
import type { StoredInteraction } from './trace';
import type { ToolScriptCandidate } from './verify';

/**
 * Tool-script candidates live in graduation's tables (candidates, candidate_versions) with kind `toolscript`, so the
 * review workflow, the decision record and the tier entry are the template machinery unchanged: the version's
 * `script` holds the recipe, its `template` a one-line reading of it, its `evidence` the trace replay.
 */

/** Accepted interactions of a clustering run's clusters with what a trace needs (messages, tools, response). */
export async function runInteractions(db: Db, clusterRunId: string): Promise<Array<StoredInteraction & { clusterId: string }>> {
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
      where m.run_id = ${clusterRunId} and ${acceptedSql('f')}
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

/** Records tool-script candidates (idempotent, like saveCandidates); returns the ids awaiting review. */
export async function saveToolScriptCandidates(
  db: Db,
  input: { tenantId: string; clusterRunId: string; candidates: ToolScriptCandidate[]; shareOf: (id: string) => number; labelOf: (id: string) => string },
): Promise<Array<{ id: string; trafficShare: number }>> {
  const pending: Array<{ id: string; trafficShare: number }> = [];
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    for (const c of input.candidates) {
      const template = describeScript(c.script);
      // Graduation's id (tenant, run, kind, answer, recipe); its Proposal type predates the toolscript kind.
      const id = candidateId(input.tenantId, input.clusterRunId, { kind: 'toolscript', template, script: c.script } as unknown as Parameters<
        typeof candidateId
      >[2]);
      const trafficShare = c.clusterIds.reduce((a, cid) => a + input.shareOf(cid), 0);
      const status = c.evidence.passed ? 'pending_review' : 'failed_verification';
      const inserted = await t
        .insert(candidates)
        .values({
          id,
          tenantId: input.tenantId,
          clusterRunId: input.clusterRunId,
          clusterIds: c.clusterIds,
          kind: 'toolscript',
          status,
          trafficShare,
          label: input.labelOf(c.clusterIds[0]!),
        })
        .onConflictDoNothing()
        .returning({ id: candidates.id });
      if (inserted.length) {
        await t.insert(candidateVersions).values({
          candidateId: id,
          version: 1,
          template,
          // The recipe and its trace-replay evidence in the columns templates use (jsonb; read back by kind).
          script: c.script as never,
          evidence: { ...c.evidence, support: c.support } as never,
          passed: c.evidence.passed ? 1 : 0,
          author: 'induction',
        });
      }
      if (status === 'pending_review') pending.push({ id, trafficShare });
    }
  });
  return stillPending(db, pending);
}
