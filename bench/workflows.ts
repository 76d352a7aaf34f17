import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterQueries } from '../src/clustering/cluster';
import { loadConfig } from '../src/config';
import { loadBfcl } from '../src/datasets/bfcl';
import { createEmbedder } from '../src/embeddings';
import { normalizeRecord } from '../src/interactions/record';
import { buildManifestDraft } from '../src/manifest/build';
import { Router } from '../src/router';
import { normaliseAnswer } from '../src/serving/answer';
import { sealManifest } from '../src/serving/manifest-hash';
import { normalizeQuery } from '../src/serving/normalize';
import { slotsOfQuery } from '../src/serving/slots';
import { toolLoopOf, toolLoopTurn } from '../src/gateway/tool-loop';
import { type ToolRegistry, type ToolScript, runToolScript } from '../src/serving/toolscript';
import { stubTools } from '../src/toolscripts/stub-world';
import { type ToolTrace, parseTrace } from '../src/toolscripts/trace';
import { type TrafficItem, supportTraffic } from '../src/toolscripts/traffic';
import { mineToolScripts } from '../src/toolscripts/verify';

/**
 * Workflow materialization end to end, offline: repeated tool-using support traffic (real bitext queries, the teacher
 * agent's tool loops against the stub order system) is clustered with the pipeline's clustering, tool scripts are
 * mined and verified, the passing ones approved (as a reviewer would) and published in a manifest; then the router
 * client runs UNSEEN traffic — new tracking/cancelling queries, a text-answered neighbour (changing orders), no-tool
 * refunds, and bfcl-eval's irrelevance sets and live_simple questions (other tools) — against the registered stubs.
 * Labels only pick the data and score. Prints: share of unseen tool traffic served by scripts, exact tool-call
 * agreement and answer agreement of what they served, capture of everything else, per-step interpreter overhead.
 * Usage: npx tsx bench/workflows.ts   (bfcl data: bench/fetch-bfcl.sh)
 */
const config = loadConfig();
const embedder = await createEmbedder(config.embeddings);
const THRESHOLD = 0.7;

async function embed(texts: string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += 256) out.push(...(await embedder.embed(texts.slice(i, i + 256))).map((v) => Float32Array.from(v)));
  return out;
}

// --- training traffic → clusters → mined scripts ---------------------------------------------------------------------
const train = supportTraffic({ perKind: { track: 240, cancel: 200, change: 150, refund: 150 }, seed: 'bench-train' });
const rows = train.map((t, i) => ({ t, row: normalizeRecord(t.record), id: String(i) }));
const masked = rows.map((r) => normalizeQuery(r.row.queryText).text);
const distinct = [...new Set(masked)];
const vecs = await embed(distinct);
const dims = vecs[0]!.length;
const flat = new Float32Array(distinct.length * dims);
vecs.forEach((v, i) => flat.set(v, i * dims));
const weights = distinct.map((d) => masked.filter((m) => m === d).length);
const clustered = clusterQueries({ vectors: flat, dims, weights }, { threshold: THRESHOLD });
const clusterOf = new Map(distinct.map((d, i) => [d, clustered.assignment[i]!]));
const k = clustered.weight.length;
const byCluster = new Map<number, ToolTrace[]>();
const untooled = new Map<number, ToolTrace[]>();
for (const r of rows) {
  const c = clusterOf.get(normalizeQuery(r.row.queryText).text)!;
  if (c < 0) continue;
  const tr = parseTrace({ id: r.id, queryText: r.row.queryText, messages: r.row.messages, requestParams: r.row.requestParams, response: r.row.response });
  const into = tr ? byCluster : untooled;
  into.set(c, [...(into.get(c) ?? []), tr ?? { id: r.id, query: r.row.queryText, calls: [], answer: r.row.answerText, offered: [] }]);
}
const t0 = performance.now();
const { candidates, skipped } = await mineToolScripts(
  [...byCluster].map(([c, traces]) => ({ clusterId: String(c), traces })),
  undefined,
  undefined,
  (id) => untooled.get(Number(id)) ?? [],
);
const mineMs = performance.now() - t0;
const approved = candidates.filter((c) => c.evidence.passed);
console.log(
  `training: ${train.length} interactions (${train.filter((t) => t.teacher.calls.length).length} tool loops), ${k} clusters; ` +
    `${candidates.length} script candidates, ${approved.length} pass replay and are approved; mining + verification ${mineMs.toFixed(0)} ms`,
);
for (const c of candidates)
  console.log(
    `  cluster ${c.clusterIds[0]}: ${c.evidence.passed ? 'PASS' : 'fail'} ${c.script.steps.length} common step(s), ${c.script.branches.length} branch(es); ` +
      `held-out ${c.evidence.correct}/${c.evidence.served} exact of ${c.evidence.heldOut}, error bound ${c.evidence.errorUpperBound.toFixed(3)}${c.evidence.reasons.length ? ` — ${c.evidence.reasons.join('; ')}` : ''}`,
  );
for (const c of candidates) {
  const bad = c.evidence.examples.find((x) => x.script.answer !== undefined && !(x.callsAgree && x.answerAgrees));
  if (bad)
    console.log(
      `    cluster ${c.clusterIds[0]} differs on ${JSON.stringify(bad.query)}:\n      teacher ${JSON.stringify(bad.teacher)}\n      script  ${JSON.stringify(bad.script)}`,
    );
}
for (const s of skipped) console.log(`  cluster ${s.clusterId}: no script — ${s.reasons.join('; ')}`);

// --- the manifest the approvals publish ----------------------------------------------------------------------------
const scriptOf = new Map(approved.map((c) => [Number(c.clusterIds[0]), c.script]));
const draft = buildManifestDraft({
  tenant: 'bench',
  version: 1,
  previousVersion: null,
  createdAt: new Date().toISOString(),
  embedding: { model: embedder.id, dims },
  models: { cheap: 'gpt-4o-mini', frontier: 'gpt-4o' },
  threshold: THRESHOLD,
  routes: Array.from({ length: k }, (_, c) => ({
    routeId: `c${c}`,
    label: `cluster ${c}`,
    centroid: clustered.centroids.subarray(c * dims, (c + 1) * dims),
    share: clustered.weight[c]! / train.length,
    tier: scriptOf.has(c) ? ('template' as const) : ('frontier' as const),
    target: scriptOf.has(c) ? { kind: 'toolscript', script: scriptOf.get(c), candidateId: `bench-${c}`, version: 1 } : {},
    evidence: {},
  })),
  provenance: { bench: 'workflows' },
});
const dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-workflows-'));
const file = path.join(dir, 'manifest.json');
writeFileSync(file, JSON.stringify(sealManifest(draft)));
const tools = stubTools();
const router = await Router.create({ source: file, embedder, tools });

// --- unseen traffic through the router client -----------------------------------------------------------------------
const test = supportTraffic({ perKind: { track: 400, cancel: 400, change: 200, refund: 200 }, seed: 'bench-test' });
let bfcl: Array<{ kind: 'irrelevance' | 'other tools'; query: string }> = [];
try {
  bfcl = [
    ...loadBfcl('irrelevance').map((q) => ({ kind: 'irrelevance' as const, query: q.query })),
    ...loadBfcl('live_irrelevance').map((q) => ({ kind: 'irrelevance' as const, query: q.query })),
    ...loadBfcl('live_simple').map((q) => ({ kind: 'other tools' as const, query: q.query })),
  ];
} catch (err) {
  console.log(`(${(err as Error).message}; bfcl sets skipped)`);
}
const tally = new Map<string, { n: number; served: number; callsExact: number; answersAgree: number }>();
const bump = (kind: string, served: boolean, calls = false, answer = false) => {
  const t = tally.get(kind) ?? { n: 0, served: 0, callsExact: 0, answersAgree: 0 };
  t.n++;
  if (served) t.served++;
  if (calls) t.callsExact++;
  if (answer) t.answersAgree++;
  tally.set(kind, t);
};
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
for (const t of test) {
  const r = await router.run(t.query);
  const served = r.tier === 'template' && r.answer !== undefined;
  const calls =
    served &&
    same(
      r.toolCalls!.map((c) => [c.tool, c.args]),
      t.teacher.calls.map((c) => [c.tool, c.args]),
    );
  bump(t.kind, served, calls, served && normaliseAnswer(r.answer!) === normaliseAnswer(t.teacher.answer));
}
for (const q of bfcl) bump(q.kind, (await router.run(q.query)).tier === 'template');

const pc = (a: number, b: number) => (b ? `${((100 * a) / b).toFixed(2)}%` : 'n/a');
const tool = ['track', 'cancel']
  .map((k) => tally.get(k)!)
  .reduce((a, t) => ({ n: a.n + t.n, served: a.served + t.served, callsExact: a.callsExact + t.callsExact, answersAgree: a.answersAgree + t.answersAgree }));
console.log(`unseen tool-using traffic served by approved scripts: ${pc(tool.served, tool.n)} (${tool.served}/${tool.n})`);
console.log(
  `  exact tool-call agreement (names + arguments, in order): ${pc(tool.callsExact, tool.served)}; answer agreement (normalised exact match): ${pc(tool.answersAgree, tool.served)}`,
);
for (const [kind, t] of tally) console.log(`  ${kind}: ${t.served}/${t.n} served by a script (${pc(t.served, t.n)})`);
const irr = tally.get('irrelevance');
if (irr) console.log(`irrelevance queries (bfcl irrelevance + live_irrelevance) captured by a script: ${pc(irr.served, irr.n)} (${irr.served}/${irr.n})`);

// --- interpreter overhead per step, tools excluded (results precomputed, so a tool call costs a map lookup) ---------
const cached = new Map<string, unknown>();
const instant: ToolRegistry = Object.fromEntries(
  Object.entries(tools).map(([name, impl]) => [
    name,
    (args: Record<string, unknown>) => {
      const key = `${name}:${JSON.stringify(args)}`;
      if (!cached.has(key)) cached.set(key, impl(args));
      return cached.get(key);
    },
  ]),
);
const jobs: Array<{ script: ToolScript; query: string; slots: Record<string, string> }> = [];
for (const t of test.filter((x) => x.kind === 'track' || x.kind === 'cancel')) {
  const r = await router.run(t.query);
  if (r.tier === 'template' && r.toolScript) jobs.push({ script: r.toolScript.toolScript, query: t.query, slots: slotsOfQuery(t.query) });
}
const perStep: number[] = [];
for (let rep = 0; rep < 30; rep++) {
  for (const j of jobs) {
    const s = performance.now();
    const out = await runToolScript(j.script, { query: j.query, slots: j.slots }, instant);
    const ms = performance.now() - s;
    if (rep >= 5) perStep.push(ms / Math.max(1, out.calls.length));
  }
}
perStep.sort((a, b) => a - b);
const q = (p: number) => (1000 * perStep[Math.floor(p * (perStep.length - 1))]!).toFixed(1);
console.log(`interpreter overhead per step (tools excluded), ${perStep.length} runs: p50 ${q(0.5)} µs, p99 ${q(0.99)} µs, max ${q(1)} µs`);

// --- the gateway's tool-loop turn: read the conversation, replay its earlier turns, decide the next (the last turn,
// which replays the most; HTTP, auth and the query's embedding are the template path's, measured in bench/gateway.ts)
const turns: number[] = [];
for (let rep = 0; rep < 30; rep++) {
  for (const j of jobs) {
    const out = await runToolScript(j.script, { query: j.query, slots: j.slots }, instant);
    const messages: unknown[] = [{ role: 'user', content: j.query }];
    out.calls.forEach((c, i) => {
      const id = `call_${i}`;
      messages.push({
        role: 'assistant',
        content: null,
        tool_calls: [{ id, type: 'function', function: { name: c.tool, arguments: JSON.stringify(c.args) } }],
      });
      messages.push({ role: 'tool', tool_call_id: id, content: JSON.stringify(c.result) });
    });
    const offered = Object.keys(tools).map((name) => ({ type: 'function', function: { name } }));
    const s = performance.now();
    const loop = toolLoopOf({ model: 'gpt-4o', messages, tools: offered });
    const turn = loop.ok ? toolLoopTurn(j.script, { query: j.query, slots: j.slots }, loop) : null;
    const ms = performance.now() - s;
    if (turn?.kind !== 'answer') throw new Error(`the tool loop of ${JSON.stringify(j.query)} did not end in the answer: ${JSON.stringify(turn)}`);
    if (rep >= 5) turns.push(ms);
  }
}
turns.sort((a, b) => a - b);
const qt = (p: number) => (1000 * turns[Math.floor(p * (turns.length - 1))]!).toFixed(1);
console.log(`gateway tool-loop turn (read the conversation, replay its calls, answer), ${turns.length} runs: p50 ${qt(0.5)} µs, p99 ${qt(0.99)} µs`);
router.close();
await (embedder as { close?: () => Promise<void> }).close?.();
rmSync(dir, { recursive: true, force: true });
