import { log } from '@temporalio/activity';
import type { Db } from '../src/db/client';
import type { EmbedderSource } from '../src/embeddings/lazy';
import type { Decision } from '../src/graduation/decision';
import { answerFitWarnings } from '../src/graduation/fit';
import { loadRunGraduationData } from '../src/graduation/load';
import { graduateClusters } from '../src/graduation/propose';
import { compileTemplate } from '../src/serving/render';
import { parseScript } from '../src/serving/script';
import { addVersion, candidateWithFirstVersion, countReminder, recordDecision, saveCandidates } from '../src/graduation/store';
import { DEFAULT_POLICY, splitHoldout, verifyCandidate } from '../src/graduation/verify';
import { InputError, NotFoundError } from '../src/errors';
import type { GraduateRunInput } from '../src/temporal/contract';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';

export interface GraduationDeps {
  db: Db;
  embedder: EmbedderSource;
}

export interface GraduateRunOutput {
  pending: Array<{ id: string; trafficShare: number }>;
  passed: number;
  failed: number;
  clustersConsidered: number;
}

export function createGraduationActivities({ db, embedder }: GraduationDeps) {
  return {
    /** Induces and verifies candidates for every cluster of a clustering run and records them (idempotent). */
    async graduateRun(input: GraduateRunInput): Promise<GraduateRunOutput> {
      return failFastOnInput(() => withHeartbeat(async () => {
        const policy = { ...DEFAULT_POLICY, ...input.policy };
        const data = await loadRunGraduationData(db, await embedder(), input.tenantId, input.clusterRunId);
        const result = graduateClusters(data.clusters, {
          policy,
          neighbours: data.neighbours,
          warn: (p, examples) => answerFitWarnings(p.template, examples.map((e) => e.query)),
        });
        const share = new Map(data.clusters.map((c) => [c.clusterId, c.share]));
        const label = new Map(data.clusters.map((c) => [c.clusterId, c.label]));
        const pending = await saveCandidates(db, { tenantId: input.tenantId, clusterRunId: input.clusterRunId, ...result, shareOf: (id) => share.get(id) ?? 0, labelOf: (id) => label.get(id) ?? id });
        return { pending, passed: result.passed.length, failed: result.failed.length, clustersConsidered: data.clusters.length };
      }));
    },

    /**
     * Replays a reviewer's edit on the candidate's held-out interactions (the same split induction used) and records
     * it as a new version with its evidence. A template that does not compile or a bad script is an InputError.
     */
    async verifyEdit(input: { candidateId: string; template: string; script?: unknown; author: string }): Promise<{ version: number; passed: boolean; reasons: string[] }> {
      return failFastOnInput(() => withHeartbeat(async () => {
        compileTemplate(input.template);
        const found = await candidateWithFirstVersion(db, input.candidateId);
        if (!found) throw new NotFoundError('candidate', `no candidate "${input.candidateId}"`);
        const { candidate: c, first: v1 } = found;
        const script = input.script !== undefined ? parseScript(input.script) : c.kind === 'script' ? parseScript(v1.script) : null;
        const data = await loadRunGraduationData(db, await embedder(), c.tenantId, c.clusterRunId);
        const members = data.clusters.filter((x) => c.clusterIds.includes(x.clusterId));
        const holdout = members.flatMap((m) => splitHoldout(m.examples, DEFAULT_POLICY.holdoutFraction).holdout);
        const evidence = verifyCandidate({ proposal: { template: input.template, script }, holdout, neighbours: data.neighbours(c.clusterIds), warnings: answerFitWarnings(input.template, members.flatMap((m) => m.examples.map((e) => e.query))) });
        const version = await addVersion(db, c.id, { template: input.template, script, evidence, author: input.author });
        return { version, passed: evidence.passed, reasons: evidence.reasons };
      }));
    },

    async recordReviewDecision(input: { candidateId: string; decision: Decision; version?: number }) {
      return failFastOnInput(async () => {
        const r = await recordDecision(db, input);
        return r as { candidateId: string; status: 'approved' | 'rejected'; version: number; routes: string[] };
      });
    },

    /** A reminder: counted on the candidate and logged (a webhook or mail would go here). */
    async remindReviewer(input: { candidateId: string; reminder: number }): Promise<void> {
      await countReminder(db, input.candidateId);
      log.info('candidate awaits review', { candidateId: input.candidateId, reminder: input.reminder });
    },

    async expireCandidate(input: { candidateId: string }): Promise<void> {
      await recordDecision(db, { candidateId: input.candidateId, decision: { action: 'expire', reviewer: 'system', comment: 'no decision before the review expired' } });
    },
  };
}
