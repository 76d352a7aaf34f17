import { createHash } from 'node:crypto';
import { clusterQueries } from '../src/clustering/cluster';
import { collapseQueries } from '../src/clustering/evaluate';
import { perturb } from '../src/datasets/perturb';
import { type SharedDatasetName, loadSharedDataset } from '../src/datasets/shared';
import { LocalOnnxEmbedder } from '../src/embeddings/local';
import { judgedInputOf } from '../src/graduation/judged';
import type { RunGraduationInput } from '../src/graduation/load';
import { centroidRouter } from '../src/graduation/routing';
import { DEFAULT_POLICY, isHeldOut } from '../src/graduation/verify';
import { DEFAULT_BUDGET, type ErrorBudget } from '../src/promotion/budget';
import { answerForm, chooseForm } from '../src/promotion/families';
import { answerTexts, judgedGraduation } from '../src/promotion/judged';
import { normalizeQuery } from '../src/serving/normalize';
import { namedSlots } from '../src/serving/slots';
import { fileCachedEmbed } from './support/embed-cache';

/**
 * Judged promotion on the shared data sets, through the production code path: the clustering graduation sees
 * (clusterQueries), judged graduation's own input adapter (judgedInputOf: graduation's held-out split, nearest-route
 * routing) and judgedGraduation (calibrated judge, answer families, pooling, admission under the budget with
 * per-route thresholds). Then UNSEEN traffic (20% of each set, never clustered or judged) is routed as the router
 * would: nearest route, that route's own threshold, the candidate's form for the slots the query binds. Labels only
 * score (and build the perturbed log): intent precision is the share of served answers whose form the served
 * intent's own rows gave. Every candidate counts as approved (what a reviewer would see).
 *
 * Usage: npx tsx bench/promotion.ts [--sets bitext-v1,bitext-v2,banking77,hwu64] [--max-rows N] [--max-error 0.01]
 *        [--unclustered-holdout] [--certify walk|single] [--start-tolerance N (default: chosen from the certifying split's size, as graduation does)]
 */
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const SETS = (opt('sets') ?? 'bitext-v1,bitext-v2,banking77,hwu64').split(',') as SharedDatasetName[];
const MAX_ROWS = Number(opt('max-rows') ?? 12000);
const UNCLUSTERED_HOLDOUT = args.includes('--unclustered-holdout');
const BUDGET: ErrorBudget = { ...DEFAULT_BUDGET, maxErrorRate: Number(opt('max-error') ?? DEFAULT_BUDGET.maxErrorRate) };
/** Queries "from no route" for each set: another domain. */
const OTHER: Record<SharedDatasetName, SharedDatasetName> = { 'bitext-v1': 'hwu64', 'bitext-v2': 'hwu64', banking77: 'hwu64', hwu64: 'banking77' };

const unit = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;
/** Deterministic sample (rows kept by hash, not by position: the sets are sorted by intent). */
const sample = <T>(rows: T[], max: number, salt: string) => (rows.length <= max ? rows : rows.filter((_, i) => unit(`${salt}:${i}`) < max / rows.length));

const embedder = await LocalOnnxEmbedder.create({ modelDir: 'models', threads: 2 });
const cache = fileCachedEmbed(embedder);

interface SetResult {
  set: string;
  variant: string;
  coverage: number;
  precision: number;
  tokensSaved: number;
  ood: number;
  clusters: number;
  candidates: number;
  routes: number;
  calibration: string;
  admission: string;
  seconds: number;
}

async function run(set: SharedDatasetName, variant: 'clean' | 'perturbed'): Promise<SetResult> {
  const t0 = performance.now();
  const loaded = sample(loadSharedDataset(set), MAX_ROWS, set);
  const rows = (variant === 'perturbed' ? perturb(loaded) : loaded).map((e, id) => ({ ...e, id: id + 1 }));
  const traffic = rows.filter((r) => unit(`traffic:${r.id}`) < 0.2);
  const log = rows.filter((r) => unit(`traffic:${r.id}`) >= 0.2);

  // The clustering run over the log's queries (masked, collapsed, weighted), as the cluster workflow does. With
  // --unclustered-holdout, graduation's held-out queries are left out of the clustering and join their nearest
  // route afterwards (so the replay sees the routing errors unseen traffic will meet).
  const clusteredRows = UNCLUSTERED_HOLDOUT ? log.filter((r) => !isHeldOut(r.id, DEFAULT_POLICY.holdoutFraction)) : log;
  const { texts, weights, distinctOf } = collapseQueries(clusteredRows.map((r) => r.query));
  const qv = await cache.embed(texts);
  const dims = qv[0]!.length;
  const vectors = new Float32Array(texts.length * dims);
  qv.forEach((v, i) => vectors.set(v, i * dims));
  const clustering = clusterQueries({ vectors, dims, weights }, { threshold: 0.7 });
  const k = clustering.weight.length;
  const nearest = centroidRouter(clustering.centroids, dims);
  const logVecs = UNCLUSTERED_HOLDOUT ? await cache.embed(log.map((r) => normalizeQuery(r.query).text)) : [];
  const position = new Map(clusteredRows.map((r, i) => [r.id, i]));
  const vecOfRow = (r: (typeof log)[number], i: number) => (UNCLUSTERED_HOLDOUT ? logVecs[i]! : qv[distinctOf[position.get(r.id)!]!]!);
  const member = log.map((r, i) => (position.has(r.id) ? clustering.assignment[distinctOf[position.get(r.id)!]!]! : nearest(vecOfRow(r, i)).index));
  const kept = log.flatMap((r, i) => (member[i]! >= 0 ? [{ r, i }] : []));
  const data: RunGraduationInput = {
    snaps: Array.from({ length: k }, (_, c) => ({ clusterId: `c${c}`, share: clustering.weight[c]!, label: `c${c}` })),
    examples: kept.map(({ r }) => ({
      id: r.id,
      query: r.query,
      slots: namedSlots(normalizeQuery(r.query).slots),
      answer: r.answer,
      ...('editedFrom' in r && r.editedFrom ? { editedFrom: r.editedFrom as string } : {}),
    })),
    exampleClusters: kept.map(({ i }) => `c${member[i]}`),
    dims,
    vectors: new Float32Array(kept.flatMap(({ r, i }) => [...vecOfRow(r, i)])),
    centroids: clustering.centroids,
    threshold: 0.7,
  };

  // Judged graduation, as the graduateRun activity runs it.
  const input = {
    ...judgedInputOf(data, DEFAULT_POLICY, BUDGET),
    admission: {
      certify: (opt('certify') ?? 'walk') as 'walk' | 'single',
      ...(opt('start-tolerance') ? { startTolerance: Number(opt('start-tolerance')) } : {}),
    },
  };
  const answers = answerTexts(input);
  const av = await cache.embed(answers);
  const result = judgedGraduation(input, new Map(answers.map((t, i) => [t, av[i]!])));
  cache.save();

  // What serves: every candidate approved; each admitted route at its own threshold.
  const route = new Map<number, { threshold: number; forms: (typeof result.candidates)[number]['forms'] }>();
  for (const c of result.candidates) for (const r of c.routes) route.set(Number(r.clusterId.slice(1)), { threshold: r.threshold, forms: c.forms });
  // The intent of a served form: the label most of the log's rows with that form carry (scoring only).
  const votes = new Map<string, Map<string, number>>();
  for (const e of data.examples) {
    const f = answerForm(e.answer, e.slots).template;
    const v = votes.get(f) ?? new Map<string, number>();
    const label = rows[e.id - 1]!.label;
    v.set(label, (v.get(label) ?? 0) + 1);
    votes.set(f, v);
  }
  const labelOf = (form: string) => [...(votes.get(form) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  const servedForm = (v: Float32Array, slots: Record<string, string>) => {
    const hit = nearest(v);
    const r = route.get(hit.index);
    return r && hit.similarity >= r.threshold ? chooseForm(r.forms, slots) : null;
  };

  const tNorm = traffic.map((r) => normalizeQuery(r.query));
  const tv = await cache.embed(tNorm.map((n) => n.text));
  let served = 0;
  let right = 0;
  let tokensAll = 0;
  let tokensServed = 0;
  traffic.forEach((r, i) => {
    const tokens = 20 + Math.ceil(r.query.length / 4) + Math.ceil(r.answer.length / 4);
    tokensAll += tokens;
    const f = servedForm(tv[i]!, namedSlots(tNorm[i]!.slots));
    if (!f) return;
    served++;
    tokensServed += tokens;
    if (labelOf(f.template) === r.label) right++;
  });
  const other = sample(loadSharedDataset(OTHER[set]), 2000, `ood:${set}`);
  const oNorm = other.map((e) => normalizeQuery(e.query));
  const ov = await cache.embed(oNorm.map((n) => n.text));
  const oodServed = other.filter((_, i) => servedForm(ov[i]!, namedSlots(oNorm[i]!.slots))).length;
  cache.save();

  const a = result.admission;
  return {
    set,
    variant,
    coverage: traffic.length ? served / traffic.length : 0,
    precision: served ? right / served : 0,
    tokensSaved: tokensAll ? tokensServed / tokensAll : 0,
    ood: other.length ? oodServed / other.length : 0,
    clusters: k,
    candidates: result.candidates.filter((c) => c.passed).length,
    routes: route.size,
    calibration: `AUC ${result.calibration.auc.toFixed(3)} on ${result.calibration.counts.positives}+/${result.calibration.counts.negatives}-`,
    admission: `${a.pooled.errors}/${a.pooled.n} wrong, bound ${(100 * a.pooled.bound).toFixed(2)}%${a.reason ? ` (${a.reason})` : ''}`,
    seconds: (performance.now() - t0) / 1000,
  };
}

const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;
console.log(`budget: served answers wrong <= ${pct(BUDGET.maxErrorRate)} at ${pct(BUDGET.confidence, 0)} (${BUDGET.method}); rows per set <= ${MAX_ROWS}`);
console.log(
  '| set | variant | template/canonical coverage (unseen) | intent precision | teacher tokens saved | other-set queries served | clusters / passed candidates / routes | judge calibration | pooled certification | s |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const set of SETS) {
  const pair: SetResult[] = [];
  for (const variant of ['clean', 'perturbed'] as const) {
    const r = await run(set, variant);
    pair.push(r);
    console.log(
      `| ${r.set} | ${r.variant} | ${pct(r.coverage)} | ${pct(r.precision, 2)} | ${pct(r.tokensSaved)} | ${pct(r.ood, 2)} | ${r.clusters} / ${r.candidates} / ${r.routes} | ${r.calibration} | ${r.admission} | ${r.seconds.toFixed(0)} |`,
    );
  }
  console.log(`|   | coverage change under perturbation | ${((pair[1]!.coverage - pair[0]!.coverage) * 100).toFixed(1)} points | | | | | | | |`);
}
console.log(`embedding cache: ${cache.stats.hits} hits, ${cache.stats.misses} embedded`);
