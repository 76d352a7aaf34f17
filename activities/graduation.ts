import { Context, log } from '@temporalio/activity';
import type { Db } from '../src/db/client';
import type { EmbedderSource } from '../src/embeddings/lazy';
import type { Decision } from '../src/graduation/decision';
import { loadRunGraduationInput } from '../src/graduation/load';
import type { GraduationResult } from '../src/graduation/propose';
import { type GraduateRunTaskInput, type VerifyEditTaskInput, graduationTransfer } from '../src/graduation/thread';
import { runInThread } from '../src/threads/run';
import { compileTemplate } from '../src/serving/render';
import { parseScript } from '../src/serving/script';
import { addVersion, candidateWithFirstVersion, countReminder, recordDecision, saveCandidates } from '../src/graduation/store';
import { DEFAULT_POLICY, type Evidence, type GraduationPolicy } from '../src/graduation/verify';
import { InputError, NotFoundError } from '../src/errors';
import type { GraduateRunInput } from '../src/temporal/contract';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';
import { demoteToolClusters, graduateToolScripts, verifyToolScriptEdit } from '../src/toolscripts/graduate';
import { parseToolScript } from '../src/toolscripts/describe';

const GRADUATION_TASKS = new URL('../src/graduation/thread.ts', import.meta.url);

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
      return failFastOnInput(() =>
        withHeartbeat(async () => {
          const policy = { ...DEFAULT_POLICY, ...input.policy };
          const data = await loadRunGraduationInput(db, await embedder(), input.tenantId, input.clusterRunId);
          // Tool scripts: clusters of logged tool loops become recipe candidates for the same review. First, while
          // the vectors are still here (the worker thread below takes them over).
          const tools = await graduateToolScripts(db, { tenantId: input.tenantId, clusterRunId: input.clusterRunId, data });
          // Induction, routing and replay run in a worker thread: this event loop keeps heartbeating meanwhile.
          const inThread = await runInThread<GraduateRunTaskInput, GraduationResult>(
            GRADUATION_TASKS,
            'graduateRunTask',
            { data, policy },
            { transfer: graduationTransfer(data), signal: Context.current().cancellationSignal },
          );
          const result = demoteToolClusters(inThread, new Set(tools.toolClusters));
          const share = new Map(data.snaps.map((c) => [c.clusterId, c.share]));
          const label = new Map(data.snaps.map((c) => [c.clusterId, c.label]));
          const pending = await saveCandidates(db, {
            tenantId: input.tenantId,
            clusterRunId: input.clusterRunId,
            ...result,
            shareOf: (id) => share.get(id) ?? 0,
            labelOf: (id) => label.get(id) ?? id,
          });
          return {
            pending: [...pending, ...tools.pending].sort((a, b) => b.trafficShare - a.trafficShare),
            passed: result.passed.length + tools.passed,
            failed: result.failed.length + tools.failed,
            clustersConsidered: data.snaps.length,
          };
        }),
      );
    },

    /**
     * Replays a reviewer's edit on the candidate's held-out interactions (the same split induction used) and records
     * it as a new version with its evidence. A template that does not compile or a bad script is an InputError.
     */
    async verifyEdit(input: {
      candidateId: string;
      template: string;
      script?: unknown;
      author: string;
    }): Promise<{ version: number; passed: boolean; reasons: string[] }> {
      return failFastOnInput(() =>
        withHeartbeat(async () => {
          const found = await candidateWithFirstVersion(db, input.candidateId);
          if (!found) throw new NotFoundError('candidate', `no candidate "${input.candidateId}"`);
          const { candidate: c, first: v1 } = found;
          if (c.kind === 'toolscript') {
            // A tool script is edited as a whole recipe (`script`), re-verified by trace replay.
            if (input.script === undefined) throw new InputError('script', 'a tool-script candidate is edited by sending the whole recipe as `script`');
            const script = parseToolScript(input.script);
            const data = await loadRunGraduationInput(db, await embedder(), c.tenantId, c.clusterRunId);
            const r = await verifyToolScriptEdit(db, {
              candidateId: c.id,
              tenantId: c.tenantId,
              clusterRunId: c.clusterRunId,
              clusterIds: c.clusterIds,
              data,
              script,
              author: input.author,
            });
            return { version: r.version, passed: r.passed, reasons: r.reasons };
          }
          compileTemplate(input.template);
          const script = input.script !== undefined ? parseScript(input.script) : c.kind === 'script' ? parseScript(v1.script) : null;
          const data = await loadRunGraduationInput(db, await embedder(), c.tenantId, c.clusterRunId);
          const evidence = await runInThread<VerifyEditTaskInput, Evidence>(
            GRADUATION_TASKS,
            'verifyEditTask',
            { data, clusterIds: c.clusterIds, template: input.template, script },
            { transfer: graduationTransfer(data), signal: Context.current().cancellationSignal },
          );
          const version = await addVersion(db, c.id, { template: input.template, script, evidence, author: input.author });
          return { version, passed: evidence.passed, reasons: evidence.reasons };
        }),
      );
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
      await recordDecision(db, {
        candidateId: input.candidateId,
        decision: { action: 'expire', reviewer: 'system', comment: 'no decision before the review expired' },
      });
    },
  };
}
