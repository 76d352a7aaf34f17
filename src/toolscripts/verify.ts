import { isHeldOut } from '../graduation/verify';
import { canonicalJson } from '../interactions/record';
import { DEFAULT_BUDGET, type ErrorBudget, errorUpperBound } from '../promotion/budget';
import { normaliseAnswer } from '../serving/answer';
import { slotsOfQuery } from '../serving/slots';
import { type ScriptCall, ScriptStop, type ToolScript, bindArg, queryWords, runToolScript } from '../serving/toolscript';
import { type InduceOptions, DEFAULT_INDUCE, induceScript } from './induce';
import type { ToolTrace } from './trace';

/**
 * Verification by replay: on held-out traces the script runs against the logged results, and must issue exactly the
 * teacher's tool calls (names and arguments, in order) and give an answer that agrees with the accepted one. A run
 * that hands over to the frontier is not served (it lowers coverage, never precision). Traces of other clusters —
 * neighbours, and queries that needed no tool or other tools — must not be answered by it.
 */

export interface ToolScriptPolicy {
  holdoutFraction: number;
  /** Fewest complete traces a cluster needs before a script is tried. */
  minTraces: number;
  minPrecision: number;
  /** Most the error rate's upper bound (the tenant's budget method and confidence) may be. */
  maxErrorUpperBound: number;
  minCoverage: number;
  budget: ErrorBudget;
  induce: InduceOptions;
}

export const DEFAULT_TOOLSCRIPT_POLICY: ToolScriptPolicy = {
  holdoutFraction: 0.3,
  minTraces: 10,
  minPrecision: 0.98,
  maxErrorUpperBound: 0.2,
  minCoverage: 0.8,
  budget: DEFAULT_BUDGET,
  induce: DEFAULT_INDUCE,
};

/** Whether a script answer agrees with the accepted one (a calibrated judge can stand in for the normalised match). */
export type AnswerAgreement = (answer: string, accepted: string) => boolean;
export const normalisedMatch: AnswerAgreement = (a, b) => normaliseAnswer(a) === normaliseAnswer(b);

export interface TraceReplay {
  id: string;
  query: string;
  teacher: { calls: Array<{ tool: string; args: Record<string, unknown> }>; answer: string };
  script: { calls: Array<{ tool: string; args: Record<string, unknown> }>; answer?: string; frontier?: string };
  callsAgree: boolean;
  answerAgrees: boolean;
}

export interface ToolScriptEvidence {
  heldOut: number;
  served: number;
  correct: number;
  precision: number;
  /** Upper bound of the error rate (budget method and confidence) and the budget itself. */
  errorUpperBound: number;
  budget: ErrorBudget;
  /** Kept for the review list, which shows templates' Wilson lower bound: 1 - errorUpperBound. */
  precisionLowerBound: number;
  coverage: number;
  callAgreement: number;
  answerAgreement: number;
  /** Other clusters' traces (neighbours, no-tool and other-tool queries) the script answered. */
  foreign: { tested: number; answered: number };
  examples: TraceReplay[];
  passed: boolean;
  reasons: string[];
  warnings: string[];
}

/** Same tool, same arguments (key order aside). */
const sameCall = (a: { tool: string; args: unknown }, b: { tool: string; args: unknown }) =>
  a.tool === b.tool && canonicalJson(a.args) === canonicalJson(b.args);

/** Replays one trace: the tools answer with the logged results while the script's calls match the teacher's. */
export async function replayTrace(script: ToolScript, t: ToolTrace, agree: AnswerAgreement = normalisedMatch): Promise<TraceReplay> {
  let mismatch = false;
  const made: ScriptCall[] = [];
  const tools = new Proxy(
    {},
    {
      get: (_, name: string) => (args: Record<string, unknown>) => {
        const expected = t.calls[made.length];
        made.push({ tool: name, args });
        if (!expected || !sameCall({ tool: name, args }, expected)) {
          mismatch = true;
          throw new Error('the call differs from the teacher trace');
        }
        return expected.result;
      },
    },
  );
  const run = await runToolScript(script, { query: t.query, slots: slotsOfQuery(t.query) }, tools);
  const callsAgree = !mismatch && made.length === t.calls.length;
  const answer = run.status === 'answered' ? run.answer : undefined;
  return {
    id: t.id,
    query: t.query,
    teacher: { calls: t.calls.map((c) => ({ tool: c.tool, args: c.args })), answer: t.answer },
    script: {
      calls: made.map((c) => ({ tool: c.tool, args: c.args })),
      ...(answer !== undefined ? { answer } : { frontier: (run as { reason: string }).reason }),
    },
    callsAgree: run.status === 'answered' && callsAgree,
    answerAgrees: answer !== undefined && agree(answer, t.answer),
  };
}

/** Verifies a script on held-out traces and on other clusters' traces. */
export async function verifyToolScript(
  script: ToolScript,
  heldOut: ToolTrace[],
  foreign: ToolTrace[],
  policy: ToolScriptPolicy = DEFAULT_TOOLSCRIPT_POLICY,
  agree: AnswerAgreement = normalisedMatch,
): Promise<ToolScriptEvidence> {
  const rows = await Promise.all(heldOut.map((t) => replayTrace(script, t, agree)));
  const served = rows.filter((r) => r.script.answer !== undefined);
  const correct = served.filter((r) => r.callsAgree && r.answerAgrees).length;
  const errors = served.length - correct;
  const bound = served.length ? errorUpperBound(errors, served.length, policy.budget) : 1;
  const precision = served.length ? correct / served.length : 0;
  const coverage = rows.length ? served.length / rows.length : 0;
  // Foreign traces are captures when the script answers them (with their own logged results); a query that needed
  // no tool has no results to replay, so it is a capture as soon as the script would call a tool for it.
  let answered = 0;
  for (const t of foreign) {
    const input = { query: t.query, slots: slotsOfQuery(t.query) };
    if (t.calls.length === 0 ? wouldCall(script, input) : (await runToolScript(script, input, replayTools(t))).status === 'answered') answered++;
  }
  const reasons: string[] = [];
  if (!rows.length) reasons.push('no held-out traces');
  if (precision < policy.minPrecision) reasons.push(`precision ${precision.toFixed(3)} < ${policy.minPrecision}`);
  if (bound > policy.maxErrorUpperBound) reasons.push(`error upper bound ${bound.toFixed(3)} > ${policy.maxErrorUpperBound} (${served.length} served)`);
  if (coverage < policy.minCoverage) reasons.push(`coverage ${coverage.toFixed(3)} < ${policy.minCoverage}`);
  if (answered) reasons.push(`answers ${answered} of ${foreign.length} traces of other clusters`);
  const warnings =
    bound > policy.budget.maxErrorRate
      ? [`error bound ${bound.toFixed(3)} is above the tenant budget ${policy.budget.maxErrorRate}: more traffic narrows it`]
      : [];
  return {
    heldOut: rows.length,
    served: served.length,
    correct,
    precision,
    errorUpperBound: bound,
    budget: policy.budget,
    precisionLowerBound: 1 - bound,
    coverage,
    callAgreement: served.length ? served.filter((r) => r.callsAgree).length / served.length : 0,
    answerAgreement: served.length ? served.filter((r) => r.answerAgrees).length / served.length : 0,
    foreign: { tested: foreign.length, answered },
    examples: [...rows].sort((a, b) => Number(a.callsAgree && a.answerAgrees) - Number(b.callsAgree && b.answerAgrees)).slice(0, 25),
    passed: reasons.length === 0,
    reasons,
    warnings,
  };
}

/** Whether the script's first call binds for this query (so serving would call the application's tool). */
export function wouldCall(script: ToolScript, input: { query: string; slots: Record<string, string> }): boolean {
  const first = script.steps[0] ?? script.branches.find((b) => b.when.length === 0)?.steps[0];
  if (!first) return false;
  try {
    for (const b of Object.values(first.args)) bindArg(b, { words: queryWords(input.query), slots: input.slots, results: [] });
    return true;
  } catch (err) {
    if (err instanceof ScriptStop) return false;
    throw err;
  }
}

/** Tools answering a foreign trace's calls with its logged results by position (whatever the script asks). */
function replayTools(t: ToolTrace) {
  let i = 0;
  return new Proxy({}, { get: () => () => t.calls[i++]?.result ?? {} });
}

export interface ClusterTraces {
  clusterId: string;
  traces: ToolTrace[];
}

export interface ToolScriptCandidate {
  clusterIds: string[];
  script: ToolScript;
  support: number[];
  evidence: ToolScriptEvidence;
}

/**
 * Mines every cluster: split its traces (the graduation split), induce on one side, verify on the other and on the
 * other clusters' traces. Returns the candidates (passed or not) and why clusters gave none.
 */
export async function mineToolScripts(
  clusters: ClusterTraces[],
  policy: ToolScriptPolicy = DEFAULT_TOOLSCRIPT_POLICY,
  agree: AnswerAgreement = normalisedMatch,
  /**
   * Queries of other clusters the router would send to this one (neighbours; queries that needed no tool are traces
   * without calls): the script must not answer them. Without routing information there are none to test.
   */
  foreignOf?: (clusterId: string) => ToolTrace[],
): Promise<{ candidates: ToolScriptCandidate[]; skipped: Array<{ clusterId: string; reasons: string[] }> }> {
  const candidates: ToolScriptCandidate[] = [];
  const skipped: Array<{ clusterId: string; reasons: string[] }> = [];
  for (const c of clusters) {
    if (c.traces.length < policy.minTraces) {
      skipped.push({ clusterId: c.clusterId, reasons: [`${c.traces.length} traces < ${policy.minTraces}`] });
      continue;
    }
    const train = c.traces.filter((t) => !isHeldOut(t.id, policy.holdoutFraction));
    const held = c.traces.filter((t) => isHeldOut(t.id, policy.holdoutFraction));
    const induced = induceScript(train, policy.induce);
    if (!induced.script) {
      skipped.push({ clusterId: c.clusterId, reasons: induced.reasons });
      continue;
    }
    const foreign = foreignOf ? foreignOf(c.clusterId) : [];
    const evidence = await verifyToolScript(induced.script, held, foreign, policy, agree);
    evidence.warnings.push(...induced.reasons);
    candidates.push({ clusterIds: [c.clusterId], script: induced.script, support: induced.support, evidence });
  }
  return { candidates, skipped };
}
