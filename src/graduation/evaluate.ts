import { createHash } from 'node:crypto';
import { type ClusterParams, clusterQueries } from '../clustering/cluster';
import { collapseQueries } from '../clustering/evaluate';
import { normalizeQuery } from '../serving/normalize';
import { type SharedDatasetName, loadSharedDataset } from '../datasets/shared';
import type { Example } from './induce';
import { type Candidate, graduateClusters } from './propose';
import { answerFitWarnings } from './fit';
import { normaliseAnswer } from '../serving/answer';
import { renderAnswer } from '../serving/render';
import { namedSlots } from '../serving/slots';
import { DEFAULT_POLICY, type GraduationPolicy } from './verify';
import { centroidRouter, neighbourhood } from './routing';

export interface GraduationEvaluation {
  dataset: SharedDatasetName;
  logged: number;
  traffic: number;
  clusters: number;
  candidates: { constant: number; template: number; script: number; rejected: number; skipped: number };
  /** Share of the unseen traffic that approved-quality candidates would serve. */
  coverage: number;
  /** Among served traffic: the candidate's intent equals the query's label. */
  intentPrecision: number;
  /** Among served traffic: the rendered answer equals the query's own logged answer (normalised). */
  answerAgreement: number;
  flagged: Array<{ label: string; warnings: string[] }>;
  perIntent: Array<{ label: string; served: number; wrong: number }>;
  seconds: number;
}

/**
 * Scores graduation end to end on a labelled data set, the way production would use it: 80% of the examples are the
 * log (clustered, then each cluster graduated with its own held-out replay), the other 20% are unseen traffic
 * routed to the nearest cluster. Labels are used only to score what the approved-quality candidates serve.
 */
export async function evaluateGraduation(
  dataset: SharedDatasetName,
  embed: (texts: string[]) => Promise<Float32Array[]>,
  opts: { cluster?: Partial<ClusterParams>; policy?: GraduationPolicy; trafficShare?: number } = {},
): Promise<GraduationEvaluation> {
  const t0 = performance.now();
  const policy = opts.policy ?? DEFAULT_POLICY;
  const threshold = opts.cluster?.threshold ?? 0.7;
  const all = loadSharedDataset(dataset);
  const isTraffic = (i: number) => createHash('sha256').update(`traffic:${i}`).digest().readUInt32BE(0) / 2 ** 32 < (opts.trafficShare ?? 0.2);
  const log = all.flatMap((ex, i) => (isTraffic(i) ? [] : [{ ...ex, id: i }]));
  const traffic = all.filter((_, i) => isTraffic(i));

  // Cluster the log as the cluster workflow does: normalise, mask, collapse duplicates, embed, cluster.
  const norm = log.map((ex) => normalizeQuery(ex.query));
  const { texts, weights, distinctOf } = collapseQueries(log.map((ex) => ex.query));
  const vecs = await embed(texts);
  const dims = vecs[0]!.length;
  const vectors = new Float32Array(texts.length * dims);
  vecs.forEach((v, i) => vectors.set(v, i * dims));
  const result = clusterQueries({ vectors, dims, weights }, opts.cluster);
  const k = result.weight.length;

  const examplesOf: Example[][] = Array.from({ length: k }, () => []);
  const labelsOf: Map<string, number>[] = Array.from({ length: k }, () => new Map());
  const rowOf: number[] = [];
  log.forEach((ex, i) => {
    const c = result.assignment[distinctOf[i]!]!;
    rowOf.push(distinctOf[i]!);
    if (c < 0) return;
    examplesOf[c]!.push({ id: ex.id, query: ex.query, slots: namedSlots(norm[i]!.slots), answer: ex.answer });
    labelsOf[c]!.set(ex.label, (labelsOf[c]!.get(ex.label) ?? 0) + 1);
  });
  const exampleRow = new Map(log.map((ex, i) => [ex.id, rowOf[i]!]));

  const neighboursOf = neighbourhood(result.centroids, dims, 5);
  const nearest = centroidRouter(result.centroids, dims);
  const nearestOfRow = new Map<number, { index: number; similarity: number }>();
  const routeOf = (row: number) => {
    let hit = nearestOfRow.get(row);
    if (!hit) nearestOfRow.set(row, (hit = nearest(vectors.subarray(row * dims, (row + 1) * dims))));
    return hit;
  };
  const graduation = graduateClusters(
    examplesOf.map((examples, c) => ({ clusterId: String(c), examples })),
    {
      policy,
      warn: (proposal, examples) =>
        answerFitWarnings(
          proposal.template,
          examples.map((e) => e.query),
        ),
      neighbours: (ids) => {
        const family = new Set(ids.map(Number));
        const around = new Set(ids.flatMap((id) => neighboursOf[Number(id)]!).filter((o) => !family.has(o)));
        return [...around].flatMap((o) =>
          examplesOf[o]!.map((e) => {
            const best = routeOf(exampleRow.get(e.id)!);
            return { ...e, routedHere: family.has(best.index) && best.similarity >= threshold };
          }),
        );
      },
    },
  );
  const candidateOf = new Map<number, Candidate>();
  for (const cand of graduation.passed) for (const id of cand.clusterIds) candidateOf.set(Number(id), cand);

  // Route unseen traffic to the nearest cluster; serve it from the cluster's candidate when there is one.
  const tNorm = traffic.map((ex) => normalizeQuery(ex.query));
  const tVecs = await embed(tNorm.map((n) => n.text));
  let served = 0;
  let intentRight = 0;
  let answerRight = 0;
  const perIntent = new Map<string, { served: number; wrong: number }>();
  // A candidate's intent: the most common label among the examples of all its clusters (scoring only).
  const intentOfCandidate = new Map<Candidate, string>();
  for (const cand of graduation.passed) {
    const votes = new Map<string, number>();
    for (const id of cand.clusterIds) for (const [l, n] of labelsOf[Number(id)]!) votes.set(l, (votes.get(l) ?? 0) + n);
    intentOfCandidate.set(cand, [...votes.entries()].sort((a, b) => b[1] - a[1])[0]![0]);
  }
  traffic.forEach((ex, i) => {
    const best = nearest(tVecs[i]!);
    const chosen = best.index >= 0 && best.similarity >= threshold ? candidateOf.get(best.index) : undefined;
    if (!chosen) return;
    served++;
    const s = perIntent.get(ex.label) ?? { served: 0, wrong: 0 };
    s.served++;
    if (intentOfCandidate.get(chosen) === ex.label) intentRight++;
    else s.wrong++;
    perIntent.set(ex.label, s);
    try {
      const rendered = renderAnswer(chosen.proposal.template, { query: ex.query, slots: namedSlots(tNorm[i]!.slots) }, chosen.proposal.script);
      if (normaliseAnswer(rendered) === normaliseAnswer(ex.answer)) answerRight++;
    } catch {
      // A slot with no value: the router would fall back to the model; counted as served but not agreeing.
    }
  });

  const counts = { constant: 0, template: 0, script: 0, rejected: graduation.failed.length, skipped: graduation.clusters.filter((c) => c.reason).length };
  for (const cand of graduation.passed) counts[cand.proposal.kind]++;
  const flagged = graduation.passed.filter((c) => c.evidence.warnings.length).map((c) => ({ label: intentOfCandidate.get(c)!, warnings: c.evidence.warnings }));
  return {
    dataset,
    logged: log.length,
    traffic: traffic.length,
    clusters: k,
    candidates: counts,
    coverage: traffic.length ? served / traffic.length : 0,
    intentPrecision: served ? intentRight / served : 0,
    answerAgreement: served ? answerRight / served : 0,
    flagged,
    perIntent: [...perIntent.entries()].map(([label, s]) => ({ label, ...s })).sort((a, b) => b.wrong - a.wrong || b.served - a.served),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** The figures for people: what got graduated and how the unseen traffic fared. */
export function formatGraduationEvaluation(e: GraduationEvaluation): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `${e.dataset}: ${e.logged} logged interactions -> ${e.clusters} clusters; candidates passing replay: ${e.candidates.constant} constant, ${e.candidates.template} template, ${e.candidates.script} script; ${e.candidates.rejected} failed replay, ${e.candidates.skipped} clusters not eligible`,
    `  unseen traffic (${e.traffic}): ${pct(e.coverage)} served by templates at intent precision ${(100 * e.intentPrecision).toFixed(2)}%, answer agreement ${(100 * e.answerAgreement).toFixed(2)}%  (${e.seconds.toFixed(1)} s)`,
  ];
  const wrong = e.perIntent.filter((p) => p.wrong > 0);
  if (wrong.length) lines.push(`  served to the wrong intent: ${wrong.map((p) => `${p.label} ${p.wrong}/${p.served}`).join(', ')}`);
  for (const f of e.flagged) lines.push(`  flagged for the reviewer (${f.label}): ${f.warnings.join('; ')}`);
  return lines.join('\n');
}
