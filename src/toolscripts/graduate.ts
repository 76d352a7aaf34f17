import type { Db } from '../db/client';
import { type RunGraduationInput, runGraduationData } from '../graduation/load';
import { isHeldOut } from '../graduation/verify';
import type { ToolScript } from '../serving/toolscript';
import type { Candidate, GraduationResult } from '../graduation/propose';
import { addVersion, saveCandidates } from '../graduation/store';
import { describeScript } from './describe';
import { runToolLoops } from './store';
import { type ToolTrace, parseTrace } from './trace';
import {
  DEFAULT_TOOLSCRIPT_POLICY,
  type ToolScriptCandidate,
  type ToolScriptEvidence,
  type ToolScriptPolicy,
  mineToolScripts,
  verifyToolScript,
} from './verify';

/**
 * Graduation's tool-script step, beside template induction: the run's accepted interactions that hold a complete
 * tool loop are read as traces per cluster, scripts are mined and verified, and every candidate is recorded for the
 * same review as templates. Queries the router would send to a cluster from elsewhere (its neighbours), and the
 * cluster's own queries that needed no tool, must not be answered by its script.
 */

interface RunTraces {
  clusters: Array<{ clusterId: string; traces: ToolTrace[] }>;
  /** Clusters at least half of whose accepted interactions are tool loops. */
  toolClusters: string[];
  /** Per cluster: queries routed here that are no trace of it (neighbours; no-tool queries as traces without calls). */
  foreignOf: (clusterId: string) => ToolTrace[];
}

async function loadRunTraces(db: Db, clusterRunId: string, data: RunGraduationInput): Promise<RunTraces> {
  const push = (m: Map<string, ToolTrace[]>, k: string, t: ToolTrace) => (m.get(k) ?? m.set(k, []).get(k)!).push(t);
  const traceOf = new Map<string, ToolTrace>();
  const byCluster = new Map<string, ToolTrace[]>();
  // Turns of a loop that are no complete trace (a tool runner logged the turn that calls tools) are left out: their
  // query is the loop's own, not one that needed no tool.
  const inLoop = new Set<string>();
  for (const r of await runToolLoops(db, clusterRunId)) {
    inLoop.add(r.id);
    const t = parseTrace(r);
    if (!t) continue;
    traceOf.set(r.id, t);
    push(byCluster, r.clusterId, t);
  }
  // The rest of the run: queries that needed no tool, as traces without calls.
  const untooled = new Map<string, ToolTrace[]>();
  data.examples.forEach((e, i) => {
    const id = String(e.id);
    if (inLoop.has(id)) return;
    const t: ToolTrace = { id, query: e.query, calls: [], answer: e.answer, offered: [] };
    traceOf.set(id, t);
    push(untooled, data.exampleClusters[i]!, t);
  });
  if (!byCluster.size) return { clusters: [], toolClusters: [], foreignOf: () => [] };
  const routing = runGraduationData(data);
  return {
    clusters: [...byCluster].map(([clusterId, traces]) => ({ clusterId, traces })),
    toolClusters: [...byCluster].filter(([id, ts]) => ts.length >= (untooled.get(id)?.length ?? 0)).map(([id]) => id),
    foreignOf: (clusterId) => [
      ...(untooled.get(clusterId) ?? []),
      ...routing
        .neighbours([clusterId])
        .filter((e) => e.routedHere)
        .map((e) => traceOf.get(String(e.id)))
        .filter((t): t is ToolTrace => t !== undefined),
    ],
  };
}

export async function graduateToolScripts(
  db: Db,
  input: { tenantId: string; clusterRunId: string; data: RunGraduationInput; policy?: Partial<ToolScriptPolicy> },
): Promise<{
  pending: Array<{ id: string; trafficShare: number }>;
  passed: number;
  failed: number;
  skipped: Array<{ clusterId: string; reasons: string[] }>;
  toolClusters: string[];
}> {
  const policy = { ...DEFAULT_TOOLSCRIPT_POLICY, ...input.policy };
  const run = await loadRunTraces(db, input.clusterRunId, input.data);
  if (!run.clusters.length) return { pending: [], passed: 0, failed: 0, skipped: [], toolClusters: [] };
  const { candidates, skipped } = await mineToolScripts(run.clusters, policy, undefined, run.foreignOf);
  const share = new Map(input.data.snaps.map((c) => [c.clusterId, c.share]));
  const label = new Map(input.data.snaps.map((c) => [c.clusterId, c.label]));
  const pending = await saveCandidates(db, {
    tenantId: input.tenantId,
    clusterRunId: input.clusterRunId,
    passed: candidates.filter((c) => c.evidence.passed).map(asCandidate),
    failed: candidates.filter((c) => !c.evidence.passed).map(asCandidate),
    shareOf: (id) => share.get(id) ?? 0,
    labelOf: (id) => label.get(id) ?? id,
  });
  const passed = candidates.filter((c) => c.evidence.passed).length;
  return { pending, passed, failed: candidates.length - passed, skipped, toolClusters: run.toolClusters };
}

/**
 * A text template for a cluster of tool loops would answer without doing what the tools do (look up, cancel): such
 * candidates do not go to review; the cluster is served by a tool script or by the frontier.
 */
export function demoteToolClusters(result: GraduationResult, toolClusters: ReadonlySet<string>): GraduationResult {
  const hit = (c: Candidate) => c.clusterIds.some((id) => toolClusters.has(id));
  const demoted = result.passed.filter(hit).map((c) => ({
    ...c,
    evidence: {
      ...c.evidence,
      passed: false,
      reasons: [...c.evidence.reasons, 'its cluster is answered through tool calls: a tool script, not a text answer, may serve it'],
    },
  }));
  return { ...result, passed: result.passed.filter((c) => !hit(c)), failed: [...result.failed, ...demoted] };
}

/**
 * A tool script in graduation's candidate shape: kind `toolscript`, the recipe in `script`, its one-line reading in
 * `template`, the trace replay as evidence (jsonb; readers branch on the kind). Graduation's types predate the kind.
 */
function asCandidate(c: ToolScriptCandidate): Candidate {
  const support = c.support.reduce((a, b) => a + b, 0);
  return {
    clusterIds: c.clusterIds,
    proposal: { kind: 'toolscript', template: describeScript(c.script), script: c.script, support },
    evidence: c.evidence,
    perCluster: [],
  } as unknown as Candidate;
}

/** Re-verifies a reviewer's edited script on the same held-out traces and records it as a new version. */
export async function verifyToolScriptEdit(
  db: Db,
  input: { candidateId: string; tenantId: string; clusterRunId: string; clusterIds: string[]; data: RunGraduationInput; script: ToolScript; author: string },
): Promise<{ version: number; passed: boolean; reasons: string[]; evidence: ToolScriptEvidence }> {
  const policy = DEFAULT_TOOLSCRIPT_POLICY;
  const run = await loadRunTraces(db, input.clusterRunId, input.data);
  const mine = run.clusters.filter((c) => input.clusterIds.includes(c.clusterId)).flatMap((c) => c.traces);
  const held = mine.filter((t) => isHeldOut(t.id, policy.holdoutFraction));
  const foreign = input.clusterIds.flatMap((id) => run.foreignOf(id));
  const evidence = await verifyToolScript(input.script, held, foreign, policy);
  // A version like a template's: the recipe in `script`, its reading in `template`, the trace replay as evidence.
  const version = await addVersion(db, input.candidateId, {
    template: describeScript(input.script),
    script: input.script as never,
    evidence: evidence as never,
    author: input.author,
  });
  return { version, passed: evidence.passed, reasons: evidence.reasons, evidence };
}
