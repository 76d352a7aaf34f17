import { Context, log } from '@temporalio/activity';
import type { Db } from '../src/db/client';
import type { EmbedderSource } from '../src/embeddings/lazy';
import type { Decision } from '../src/graduation/decision';
import { loadRunGraduationInput } from '../src/graduation/load';
import type { GraduationResult } from '../src/graduation/propose';
import { type JudgedGraduationTaskInput, type VerifyEditTaskInput, graduationTransfer } from '../src/graduation/thread';
import { judgedInputOf } from '../src/graduation/judged';
import { answerTexts } from '../src/promotion/judged';
import type { Calibration } from '../src/judge/calibration';
import { latestCalibration, saveCalibration } from '../src/judge/store';
import { judgedEditHoldout, judgedEditReplay, verifyJudgedEdit } from '../src/graduation/judged-edit';
import { answerFitWarnings } from '../src/graduation/fit';
import { tenantBudget } from '../src/tenants/store';
import { embedWithCache } from '../src/embeddings/cache';
import { runInThread } from '../src/threads/run';
import { compileTemplate } from '../src/serving/render';
import { parseScript } from '../src/serving/script';
import { addVersion, candidateWithFirstVersion, countReminder, recordDecision, saveCandidates } from '../src/graduation/store';
import { DEFAULT_POLICY, type Evidence, type GraduationPolicy } from '../src/graduation/verify';
import { InputError, NotFoundError } from '../src/errors';
import { type GraduateRunInput, DEFAULT_PUBLISH_DEBOUNCE_MS, ids, reviewDecidedSignal } from '../src/temporal/contract';
import type { Client } from '@temporalio/client';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';
import { demoteToolClusters, graduateToolScripts, verifyToolScriptEdit } from '../src/toolscripts/graduate';
import { parseToolScript } from '../src/toolscripts/describe';

const GRADUATION_TASKS = new URL('../src/graduation/thread.ts', import.meta.url);

export interface GraduationDeps {
  db: Db;
  embedder: EmbedderSource;
  /** The Temporal client (lazily connected) the review activities signal the tenant's review publisher with. */
  temporalClient: () => Promise<Client>;
}

export interface GraduateRunOutput {
  pending: Array<{ id: string; trafficShare: number }>;
  passed: number;
  failed: number;
  clustersConsidered: number;
}

export function createGraduationActivities({ db, embedder, temporalClient }: GraduationDeps) {
  return {
    /** Induces and verifies candidates for every cluster of a clustering run and records them (idempotent). */
    async graduateRun(input: GraduateRunInput): Promise<GraduateRunOutput> {
      return failFastOnInput(() =>
        withHeartbeat(async () => {
          const policy = { ...DEFAULT_POLICY, ...input.policy };
          const emb = await embedder();
          const data = await loadRunGraduationInput(db, emb, input.tenantId, input.clusterRunId);
          // Tool scripts: clusters of logged tool loops become recipe candidates for the same review.
          const tools = await graduateToolScripts(db, { tenantId: input.tenantId, clusterRunId: input.clusterRunId, data });
          const judgedInput = judgedInputOf(data, policy, await tenantBudget(db, input.tenantId));
          const texts = answerTexts(judgedInput);
          const vectors = new Float32Array(texts.length * emb.dims);
          if (texts.length) (await embedWithCache(db, emb, texts)).forEach((v, i) => vectors.set(v, i * emb.dims));
          // Calibration, families, pooling, replay and admission run in a worker thread: this event loop keeps heartbeating.
          const { result: judged, calibration } = await runInThread<JudgedGraduationTaskInput, { result: GraduationResult; calibration: Calibration }>(
            GRADUATION_TASKS,
            'judgedGraduationTask',
            { input: judgedInput, texts, dims: emb.dims, vectors },
            { transfer: [vectors.buffer as ArrayBuffer], signal: Context.current().cancellationSignal },
          );
          await saveCalibration(db, input.tenantId, input.clusterRunId, calibration);
          // A text answer for a cluster of tool loops would answer without running the tools.
          const result = demoteToolClusters(judged, new Set(tools.toolClusters));
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
          const emb = await embedder();
          const data = await loadRunGraduationInput(db, emb, c.tenantId, c.clusterRunId);
          // A judged candidate's edit is judged too (a rewording agrees); others replay with string matching.
          const calibration = v1.evidence.judged ? await latestCalibration(db, c.tenantId) : null;
          let evidence: Evidence;
          if (v1.evidence.judged && calibration) {
            const holdout = judgedEditHoldout(data, c.clusterIds, DEFAULT_POLICY.holdoutFraction);
            const original = { template: v1.template, script: c.kind === 'script' ? parseScript(v1.script) : null };
            const replay = judgedEditReplay({ holdout, template: input.template, script, original });
            const vectors = replay.texts.length ? await embedWithCache(db, emb, replay.texts) : [];
            const clusters = new Set(c.clusterIds);
            evidence = verifyJudgedEdit(replay, {
              vectors: new Map(replay.texts.map((t, i) => [t, vectors[i]!])),
              calibration,
              budget: await tenantBudget(db, c.tenantId),
              prior: v1.evidence.judged,
              clusterIds: c.clusterIds,
              template: input.template,
              warnings: answerFitWarnings(
                input.template,
                data.examples.filter((_, i) => clusters.has(data.exampleClusters[i]!)).map((e) => e.query),
              ),
            });
          } else {
            evidence = await runInThread<VerifyEditTaskInput, Evidence>(
              GRADUATION_TASKS,
              'verifyEditTask',
              { data, clusterIds: c.clusterIds, template: input.template, script },
              { transfer: graduationTransfer(data), signal: Context.current().cancellationSignal },
            );
          }
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

    /**
     * Tells the tenant's review publisher about a decision (signal-with-start: atomic, so a decision is never lost
     * between a publisher finishing and a new one starting). It publishes after a quiet spell.
     */
    async requestReviewPublish(input: { tenantId: string; candidateId: string; debounceMs?: number }): Promise<void> {
      const client = await temporalClient();
      await client.workflow.signalWithStart('reviewPublishWorkflow', {
        workflowId: ids.reviewPublish(input.tenantId),
        taskQueue: Context.current().info.taskQueue,
        args: [{ tenantId: input.tenantId, debounceMs: input.debounceMs ?? DEFAULT_PUBLISH_DEBOUNCE_MS, decided: [] }],
        signal: reviewDecidedSignal,
        signalArgs: [input.candidateId],
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
