import { createHash } from 'node:crypto';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { candidateVersions, candidates, reviewDecisions } from '../db/schema';
import { InputError, NotFoundError } from '../errors';
import { acceptedSql, latestFeedbackSql } from '../interactions/store';
import { putTierEntry } from '../tiers/store';
import { snapshotSummaries } from '../clustering/store';
import type { CandidateStatus } from '../vocabulary';
import type { Decision, DecisionResult } from './decision';
import type { Proposal } from './induce';
import type { Candidate } from './propose';
import type { ScriptSpec } from '../serving/script';
import type { Evidence } from './verify';

/** Same tenant, clustering run and answer → same id: re-running graduation never duplicates a candidate. */
export function candidateId(tenantId: string, clusterRunId: string, p: Pick<Proposal, 'kind' | 'template' | 'script'>): string {
  return `g_${createHash('sha256')
    .update(`${tenantId}\n${clusterRunId}\n${p.kind}\n${p.template}\n${JSON.stringify(p.script)}`)
    .digest('hex')
    .slice(0, 12)}`;
}

/** Records the candidates of one graduation (idempotent); returns the ids awaiting review, largest traffic first. */
export async function saveCandidates(
  db: Db,
  input: {
    tenantId: string;
    clusterRunId: string;
    passed: Candidate[];
    failed: Candidate[];
    shareOf: (clusterId: string) => number;
    labelOf: (clusterId: string) => string;
  },
): Promise<Array<{ id: string; trafficShare: number }>> {
  const pending: Array<{ id: string; trafficShare: number }> = [];
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    for (const [list, status] of [
      [input.passed, 'pending_review'],
      [input.failed, 'failed_verification'],
    ] as const) {
      for (const c of list) {
        const id = candidateId(input.tenantId, input.clusterRunId, c.proposal);
        const trafficShare = c.clusterIds.reduce((a, cid) => a + input.shareOf(cid), 0);
        const inserted = await t
          .insert(candidates)
          .values({
            id,
            tenantId: input.tenantId,
            clusterRunId: input.clusterRunId,
            clusterIds: c.clusterIds,
            kind: c.proposal.kind,
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
            template: c.proposal.template,
            script: c.proposal.script,
            evidence: { ...c.evidence, perCluster: c.perCluster, support: c.proposal.support },
            passed: c.evidence.passed ? 1 : 0,
            author: 'induction',
          });
        }
        if (status === 'pending_review') pending.push({ id, trafficShare });
      }
    }
  });
  // A candidate decided in an earlier attempt is not pending any more.
  return (await stillPending(db, pending)).sort((a, b) => b.trafficShare - a.trafficShare);
}

/** The candidates of `pending` still awaiting review (a retried graduation finds some decided already). */
export async function stillPending<T extends { id: string }>(db: Db, pending: T[]): Promise<T[]> {
  if (!pending.length) return [];
  const still = new Set(
    (
      await db
        .select({ id: candidates.id })
        .from(candidates)
        .where(
          and(
            inArray(
              candidates.id,
              pending.map((p) => p.id),
            ),
            eq(candidates.status, 'pending_review'),
          ),
        )
    ).map((r) => r.id),
  );
  return pending.filter((p) => still.has(p.id));
}

export interface CandidateSummary {
  id: string;
  tenantId: string;
  kind: string;
  status: CandidateStatus;
  label: string;
  trafficShare: number;
  clusterIds: string[];
  version: number;
  template: string;
  precision: number;
  precisionLowerBound: number;
  coverage: number;
  heldOut: number;
  warnings: string[];
  createdAt: string;
}

export async function listCandidates(db: Db, tenantId: string, opts: { status?: CandidateStatus | 'all'; limit?: number } = {}): Promise<CandidateSummary[]> {
  const status = opts.status ?? 'pending_review';
  const rows = await db
    .select({ c: candidates, v: candidateVersions })
    .from(candidates)
    .innerJoin(candidateVersions, and(eq(candidateVersions.candidateId, candidates.id), eq(candidateVersions.version, candidates.currentVersion)))
    .where(status === 'all' ? eq(candidates.tenantId, tenantId) : and(eq(candidates.tenantId, tenantId), eq(candidates.status, status)))
    .orderBy(desc(candidates.trafficShare), candidates.id)
    .limit(opts.limit ?? 200);
  return rows.map(({ c, v }) => {
    const e = v.evidence;
    return {
      id: c.id,
      tenantId: c.tenantId,
      kind: c.kind,
      status: c.status,
      label: c.label,
      trafficShare: c.trafficShare,
      clusterIds: c.clusterIds,
      version: v.version,
      template: v.template,
      precision: e.precision,
      precisionLowerBound: e.precisionLowerBound,
      coverage: e.coverage,
      heldOut: e.heldOut,
      warnings: e.warnings ?? [],
      createdAt: c.createdAt.toISOString(),
    };
  });
}

export interface CandidateDetail {
  candidate: typeof candidates.$inferSelect;
  versions: Array<typeof candidateVersions.$inferSelect>;
  decision: typeof reviewDecisions.$inferSelect | null;
}

export async function getCandidate(db: Db, tenantId: string, id: string): Promise<CandidateDetail> {
  const [candidate] = await db
    .select()
    .from(candidates)
    .where(and(eq(candidates.id, id), eq(candidates.tenantId, tenantId)));
  if (!candidate) throw new NotFoundError('candidate', `no candidate "${id}" for this tenant: see \`distillery review list\``);
  const versions = await db.select().from(candidateVersions).where(eq(candidateVersions.candidateId, id)).orderBy(candidateVersions.version);
  const [decision] = await db.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, id));
  return { candidate, versions, decision: decision ?? null };
}

export interface CandidateCluster {
  clusterId: string;
  label: string;
  share: number;
  /** Up to 3 representative queries of the cluster. */
  examples: string[];
  /** Whether the candidate serves this cluster (judged pooling may pool clusters admission does not let it serve). */
  serves: boolean;
}

/**
 * The clusters of a candidate as a reviewer reads them: every cluster judged graduation pooled into it (or, for
 * other candidates, the clusters it serves), each with its label and a few example queries from the run's snapshot.
 */
export async function candidateClusters(db: Db, detail: CandidateDetail): Promise<CandidateCluster[]> {
  const c = detail.candidate;
  const pooled = detail.versions[0]?.evidence?.judged?.pooled ?? [];
  const ids = [...new Set([...c.clusterIds, ...pooled])];
  const serves = new Set(c.clusterIds);
  return (await snapshotSummaries(db, c.clusterRunId, ids)).map((s) => ({ ...s, serves: serves.has(s.clusterId) }));
}

/** Appends a version (an edit) with its evidence; idempotent for the same author and text. */
export async function addVersion(
  db: Db,
  candidateId: string,
  v: { template: string; script: ScriptSpec | null | undefined; evidence: Evidence; author: string },
): Promise<number> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const existing = await t.select().from(candidateVersions).where(eq(candidateVersions.candidateId, candidateId)).orderBy(desc(candidateVersions.version));
    const same = existing.find((e) => e.template === v.template && JSON.stringify(e.script) === JSON.stringify(v.script ?? null) && e.author === v.author);
    if (same) return same.version;
    const version = (existing[0]?.version ?? 0) + 1;
    await t.insert(candidateVersions).values({
      candidateId,
      version,
      template: v.template,
      script: v.script ?? null,
      evidence: v.evidence,
      passed: v.evidence.passed ? 1 : 0,
      author: v.author,
    });
    return version;
  });
}

/**
 * Records a decision and its effects in one transaction: the decision row (one per candidate, so a retried activity
 * changes nothing), the candidate's status and version, and for an approval one active tier entry per cluster
 * (superseding an entry the route had before).
 */
export async function recordDecision(
  db: Db,
  input: { candidateId: string; decision: Decision | { action: 'expire'; reviewer: string; comment?: string }; version?: number },
): Promise<DecisionResult | { candidateId: string; status: 'expired'; version: number; routes: [] }> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const [c] = await t.select().from(candidates).where(eq(candidates.id, input.candidateId)).for('update');
    if (!c) throw new NotFoundError('candidate', `no candidate "${input.candidateId}"`);
    const [prior] = await t.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, c.id));
    const version = input.version ?? c.currentVersion;
    const d = input.decision;
    if (!prior) {
      await t.insert(reviewDecisions).values({ candidateId: c.id, version, decision: d.action, reviewer: d.reviewer, comment: d.comment ?? null });
      const status = d.action === 'reject' ? 'rejected' : d.action === 'expire' ? 'expired' : 'approved';
      await t
        .update(candidates)
        .set({ status, currentVersion: version, updatedAt: sql`now()` })
        .where(eq(candidates.id, c.id));
      if (status === 'approved') {
        const [v] = await t
          .select()
          .from(candidateVersions)
          .where(and(eq(candidateVersions.candidateId, c.id), eq(candidateVersions.version, version)));
        for (const routeId of c.clusterIds) {
          // Judged graduation calibrated this route's similarity threshold to the budget (absent: the global one).
          const route = v!.evidence.judged?.routes.find((r) => r.clusterId === routeId);
          await putTierEntry(t, {
            tenantId: c.tenantId,
            routeId,
            tier: 'template',
            target: { candidateId: c.id, version, kind: c.kind, template: v!.template, script: v!.script },
            evidence: {
              precision: v!.evidence.precision,
              precisionLowerBound: v!.evidence.precisionLowerBound,
              coverage: v!.evidence.coverage,
              ...(route
                ? {
                    judge: v!.evidence.judged!.judge,
                    threshold: route.threshold,
                    thresholdCalibration: { n: route.n, errors: route.errors, budget: v!.evidence.judged!.budget },
                  }
                : {}),
              reviewer: d.reviewer,
              clusterRunId: c.clusterRunId,
            },
          });
        }
      }
    }
    const [now] = await t.select().from(candidates).where(eq(candidates.id, c.id));
    const st = now!.status;
    return { candidateId: c.id, status: st as 'approved', version: now!.currentVersion, routes: st === 'approved' ? c.clusterIds : [] } as DecisionResult;
  });
}

export async function countReminder(db: Db, candidateId: string): Promise<void> {
  await db
    .update(candidates)
    .set({ reminders: sql`${candidates.reminders} + 1`, updatedAt: sql`now()` })
    .where(eq(candidates.id, candidateId));
}

/** A candidate with its first version (the induced answer an edit is verified against), or undefined. */
export async function candidateWithFirstVersion(
  db: Db,
  id: string,
): Promise<{ candidate: typeof candidates.$inferSelect; first: typeof candidateVersions.$inferSelect } | undefined> {
  const [candidate] = await db.select().from(candidates).where(eq(candidates.id, id));
  if (!candidate) return undefined;
  const [first] = await db.select().from(candidateVersions).where(eq(candidateVersions.candidateId, id)).orderBy(candidateVersions.version).limit(1);
  return { candidate, first: first! };
}

/**
 * The accepted interactions of a clustering run's clusters, with the answer to learn from (an edited answer
 * replaces the teacher's), in id order: what graduation induces and verifies on.
 */
export async function acceptedRunMembers(
  db: Db,
  clusterRunId: string,
): Promise<Array<{ cluster_id: string; id: number | string; query_text: string; answer: string; edited_from: string | null }>> {
  return rowsOf<{ cluster_id: string; id: number | string; query_text: string; answer: string; edited_from: string | null }>(
    await db.execute(sql`
      select m.cluster_id, i.id, i.query_text, coalesce(f.corrected_answer, i.answer_text) as answer,
        case when f.corrected_answer is not null and f.corrected_answer <> i.answer_text then i.answer_text end as edited_from
      from cluster_members m
      join interactions i on i.id = m.interaction_id
      join lateral ${latestFeedbackSql(sql`i.id`)} f on true
      where m.run_id = ${clusterRunId} and ${acceptedSql('f')}
      order by i.id`),
  );
}

/** When each of these candidates was decided. */
export async function decisionTimes(db: Db, candidateIds: string[]): Promise<Map<string, Date>> {
  if (!candidateIds.length) return new Map();
  const rows = await db
    .select({ id: reviewDecisions.candidateId, at: reviewDecisions.decidedAt })
    .from(reviewDecisions)
    .where(inArray(reviewDecisions.candidateId, candidateIds));
  return new Map(rows.map((r) => [r.id, r.at]));
}
