import { Context, log } from '@temporalio/activity';
import OpenAI from 'openai';
import { runSnapshots } from '../src/clustering/store';
import type { Db } from '../src/db/client';
import { embedWithCache } from '../src/embeddings/cache';
import type { EmbedderSource } from '../src/embeddings/lazy';
import { isHeldOut, DEFAULT_POLICY } from '../src/graduation/verify';
import { EmbeddingJudge } from '../src/judge/embedding';
import { latestCalibration } from '../src/judge/store';
import { loadPrices } from '../src/manifest/store';
import { DEFAULT_TRIAL_MIN_SHARE, trialRoutes, trialSampleSize, trialVerdict } from '../src/promotion/cheap';
import { addTrialAnswers, closeTrial, openTrial, routeInteractions } from '../src/promotion/store';
import { tenantBudget } from '../src/tenants/store';
import { activeTierEntry, putTierEntry, servedRoutes } from '../src/tiers/store';
import type { CheapTrialInput, CheapTrialOutput } from '../src/temporal/contract';
import { failFastOnInput } from './errors';
import { withHeartbeat } from './heartbeat';

/** The cheap model trials call: any OpenAI-compatible endpoint (CHEAP_BASE_URL, CHEAP_MODEL). */
export interface CheapModelConfig {
  baseURL: string;
  apiKey?: string;
  model: string;
  /** Per call (ms). */
  timeoutMs: number;
  /** Most USD one run's trials may spend. */
  maxCostUsd: number;
}

export interface CheapDeps {
  db: Db;
  embedder: EmbedderSource;
  cheapModel?: CheapModelConfig;
}

const SAVE_EVERY = 10;

export function createCheapActivities({ db, embedder, cheapModel }: CheapDeps) {
  return {
    /**
     * Cheap-model trials for a run's frequent frontier routes (src/promotion/cheap.ts). Resumable: judged answers are
     * saved as they come (every few calls), so a retry continues the trial and never pays twice for a query; a route
     * that passes moves to the cheap tier with its evidence. Stops trying when the run's cost cap is reached.
     */
    async runCheapTrials(input: CheapTrialInput): Promise<CheapTrialOutput> {
      return failFastOnInput(() =>
        withHeartbeat(async () => {
          if (!cheapModel) return { tried: [], skipped: 'no cheap model configured (set CHEAP_BASE_URL and CHEAP_MODEL)' };
          const calibration = await latestCalibration(db, input.tenantId);
          if (!calibration) return { tried: [], skipped: 'no judge calibration yet (graduation fits it)' };
          const budget = await tenantBudget(db, input.tenantId);
          const emb = await embedder();
          const judge = new EmbeddingJudge((texts) => embedWithCache(db, emb, texts), calibration);
          const client = new OpenAI({ baseURL: cheapModel.baseURL, apiKey: cheapModel.apiKey ?? 'none', timeout: cheapModel.timeoutMs, maxRetries: 2 });
          const price = (await loadPrices(db)).cheap;
          const snaps = await runSnapshots(db, input.clusterRunId);
          const cheaper = await servedRoutes(
            db,
            input.tenantId,
            snaps.map((s) => s.clusterId),
          );
          const need = trialSampleSize(budget, input.samples);
          const routes = [];
          for (const s of snaps) {
            // Only routes a trial could take: reading a small or already cheaper route's interactions would be wasted.
            if (cheaper.has(s.clusterId) || s.share < (input.minShare ?? DEFAULT_TRIAL_MIN_SHARE)) continue;
            // The cheap model saw none of the tenant's traffic, so every accepted interaction is unseen by it; graduation's
            // held-out side goes first (those rows the judge's calibration never used).
            const all = await routeInteractions(db, input.clusterRunId, s.clusterId);
            const held = (r: { id: number }) => isHeldOut(r.id, DEFAULT_POLICY.holdoutFraction);
            const rows = [...all.filter(held), ...all.filter((r) => !held(r))];
            routes.push({ routeId: s.clusterId, share: s.share, tier: 'frontier' as const, available: rows.length, rows: rows.slice(0, need) });
          }
          const byId = new Map(routes.map((r) => [r.routeId, r]));
          let spent = 0;
          const tried: CheapTrialOutput['tried'] = [];
          for (const r of trialRoutes(routes, budget, { minShare: input.minShare, samples: input.samples, maxRoutes: input.maxRoutes })) {
            const key = { tenantId: input.tenantId, clusterRunId: input.clusterRunId, routeId: r.routeId };
            const trial = await openTrial(db, { ...key, model: cheapModel.model });
            spent += trial.costUsd;
            if (trial.status !== 'running') {
              tried.push({ routeId: r.routeId, status: trial.status, reason: trial.reason ?? '' });
              continue;
            }
            if (r.skip) {
              await closeTrial(db, key, 'skipped', r.skip);
              tried.push({ routeId: r.routeId, status: 'skipped', reason: r.skip });
              continue;
            }
            const answers: Record<string, number> = { ...trial.answers };
            let batch: Array<{ id: number; candidate: string; reference: string; query: string }> = [];
            let batchCost = 0;
            const flush = async () => {
              const judged = await judge.judge(batch);
              const add = Object.fromEntries(batch.map((b, i) => [String(b.id), judged[i]!.pAgree]));
              Object.assign(answers, add);
              await addTrialAnswers(db, key, add, batchCost);
              batch = [];
              batchCost = 0;
            };
            let capped = false;
            for (const row of byId.get(r.routeId)!.rows) {
              if (String(row.id) in answers) continue;
              if (spent >= cheapModel.maxCostUsd) {
                capped = true;
                break;
              }
              Context.current().heartbeat({ routeId: r.routeId, judged: Object.keys(answers).length + batch.length });
              const reply = await client.chat.completions
                .create({ model: cheapModel.model, messages: row.messages as never, temperature: 0 })
                .catch((err: unknown) => {
                  log.warn('cheap model call failed: counted as a wrong answer', { routeId: r.routeId, error: String(err) });
                  return null;
                });
              const cost = reply?.usage
                ? (reply.usage.prompt_tokens * price.inputPerMTok + reply.usage.completion_tokens * price.outputPerMTok) / 1e6 + price.perCall
                : 0;
              spent += cost;
              batchCost += cost;
              const text = reply?.choices[0]?.message?.content ?? '';
              batch.push({ id: row.id, candidate: text || '\u0000no answer', reference: row.answer, query: row.messages.at(-1)?.content?.toString() ?? '' });
              if (batch.length >= SAVE_EVERY) await flush();
            }
            if (batch.length) await flush();
            if (capped) {
              tried.push({ routeId: r.routeId, status: 'running', reason: `cost cap ${cheapModel.maxCostUsd} USD reached: the next run continues it` });
              break;
            }
            const verdict = trialVerdict(Object.values(answers), budget);
            if (verdict.promote && !(await activeTierEntry(db, input.tenantId, r.routeId))) {
              await putTierEntry(db, {
                tenantId: input.tenantId,
                routeId: r.routeId,
                tier: 'cheap',
                target: { model: cheapModel.model },
                evidence: {
                  setBy: 'cheap-trial',
                  reason: verdict.reason,
                  agreement: verdict.agreement,
                  n: verdict.check.n,
                  errors: verdict.check.errors,
                  bound: verdict.check.bound,
                  budget,
                  judge: judge.id,
                  model: cheapModel.model,
                  clusterRunId: input.clusterRunId,
                },
              });
            }
            await closeTrial(db, key, verdict.promote ? 'promoted' : 'refused', verdict.reason);
            tried.push({ routeId: r.routeId, status: verdict.promote ? 'promoted' : 'refused', reason: verdict.reason, agreement: verdict.agreement });
          }
          return { tried, costUsd: spent };
        }),
      );
    },
  };
}
