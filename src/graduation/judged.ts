import { cosine } from '../embeddings/types';
import type { ErrorBudget } from '../promotion/budget';
import { type HeldOutExample, type JudgedExample, type JudgedInput, type JudgedResult, candidateErrorBound } from '../promotion/judged';
import { answerFitWarnings } from './fit';
import type { Proposal } from './induce';
import type { RunGraduationInput } from './load';
import type { Candidate, GraduationResult } from './propose';
import { centroidRouter, neighbourhood } from './routing';
import { type Evidence, type GraduationPolicy, isHeldOut } from './verify';

/**
 * The adapter between a clustering run's data and judged graduation (src/promotion/judged.ts): which accepted
 * interactions are training and which held out (graduation's one split, isHeldOut), where the router sends each
 * held-out query, and how judged candidates are recorded (the candidates table and the review page read Evidence).
 */

/** The run's data as judged graduation takes it: train / held-out by the split, held-out routed to its nearest route. */
export function judgedInputOf(data: RunGraduationInput, policy: GraduationPolicy, budget: ErrorBudget): JudgedInput {
  const { dims, vectors, centroids, snaps } = data;
  const route = centroidRouter(centroids, dims);
  const indexOf = new Map(snaps.map((s, i) => [s.clusterId, i]));
  const around = neighbourhood(centroids, dims, 5);
  const memberSimilarities = snaps.map((): number[] => []);
  const train: JudgedExample[] = [];
  const heldOut: HeldOutExample[] = [];
  data.examples.forEach((e, i) => {
    const clusterId = data.exampleClusters[i]!;
    const c = indexOf.get(clusterId);
    if (c === undefined) return;
    const v = vectors.subarray(i * dims, (i + 1) * dims);
    const x: JudgedExample = { id: e.id, clusterId, query: e.query, slots: e.slots, answer: e.answer, ...(e.editedFrom ? { editedFrom: e.editedFrom } : {}) };
    if (isHeldOut(e.id, policy.holdoutFraction)) {
      const hit = route(v);
      if (hit.index >= 0) heldOut.push({ ...x, routedTo: snaps[hit.index]!.clusterId, similarity: hit.similarity });
    } else {
      train.push(x);
      memberSimilarities[c]!.push(cosine(v, centroids.subarray(c * dims, (c + 1) * dims)));
    }
  });
  return {
    clusters: snaps.map((s, i) => ({
      clusterId: s.clusterId,
      memberSimilarities: memberSimilarities[i]!,
      neighbours: around[i]!.map((j) => snaps[j]!.clusterId),
    })),
    train,
    heldOut,
    budget,
    minClusterExamples: Math.max(3, Math.ceil(policy.minExamples * (1 - policy.holdoutFraction))),
  };
}

/** Judged candidates as graduation records them: one proposal, its clusters, and Evidence the review page reads. */
export function judgedGraduationResult(result: JudgedResult, input: JudgedInput): GraduationResult {
  const queriesOf = new Map<string, string[]>();
  for (const x of input.train) queriesOf.set(x.clusterId, [...(queriesOf.get(x.clusterId) ?? []), x.query]);
  const trainCount = new Map<string, number>();
  const heldCount = new Map<string, number>();
  for (const x of input.train) trainCount.set(x.clusterId, (trainCount.get(x.clusterId) ?? 0) + 1);
  for (const x of input.heldOut) heldCount.set(x.clusterId, (heldCount.get(x.clusterId) ?? 0) + 1);
  const passed: Candidate[] = [];
  const failed: Candidate[] = [];
  for (const c of result.candidates) {
    const served = c.passed ? c.routes.map((r) => r.clusterId) : c.clusterIds;
    const slotted = c.forms.some((f) => f.slots.length > 0);
    const support = c.forms.reduce((a, f) => a + f.support, 0);
    const trainTotal = served.reduce((a, id) => a + (trainCount.get(id) ?? 0), 0);
    const proposal: Proposal = {
      kind: slotted ? 'template' : 'constant',
      template: c.template,
      script: null,
      support: trainTotal ? Math.min(1, support / trainTotal) : 0,
    };
    const agreed = c.served - c.wrong;
    const evidence: Evidence = {
      match: 'judged',
      heldOut: c.routed,
      covered: c.served,
      agreed,
      precision: c.served ? agreed / c.served : 0,
      precisionLowerBound: c.served ? 1 - candidateErrorBound(c, result.budget) : 0,
      coverage: c.routed ? c.served / c.routed : 0,
      exactRate: c.served ? c.normalisedAgreed / c.served : 0,
      normalisedRate: c.served ? c.normalisedAgreed / c.served : 0,
      semanticMean: null,
      falsePositives: {
        tested: c.served,
        routedHere: c.foreign.served,
        wrong: c.foreign.wrong,
        rate: c.served ? c.foreign.wrong / c.served : 0,
        examples: c.foreign.examples.map(replayRow),
      },
      examples: c.replay.map(replayRow),
      passed: c.passed,
      reasons: c.reasons,
      warnings: answerFitWarnings(
        c.forms[0]!.template,
        served.flatMap((id) => queriesOf.get(id) ?? []),
      ),
      judged: {
        judge: `embedding:${result.calibration.id}`,
        calibrationAuc: result.calibration.auc,
        budget: result.budget,
        forms: c.forms,
        pooled: c.clusterIds,
        routes: c.routes,
        admission: result.admission,
      },
    };
    const perCluster = served.map((id) => {
      const route = c.routes.find((r) => r.clusterId === id);
      return {
        clusterId: id,
        examples: (trainCount.get(id) ?? 0) + (heldCount.get(id) ?? 0),
        support: proposal.support,
        heldOut: route?.n ?? 0,
        agreed: route ? route.n - route.errors : 0,
      };
    });
    (c.passed ? passed : failed).push({ proposal, clusterIds: served, evidence, perCluster });
  }
  const bySize = (a: Candidate, b: Candidate) => b.perCluster.reduce((s, m) => s + m.examples, 0) - a.perCluster.reduce((s, m) => s + m.examples, 0);
  return { passed: passed.sort(bySize), failed: failed.sort(bySize), clusters: result.clusters };
}

const replayRow = (r: JudgedResult['candidates'][number]['replay'][number]) => ({
  id: r.id,
  query: r.query,
  accepted: r.accepted,
  rendered: r.rendered,
  exact: r.rendered === r.accepted,
  normalised: r.pAgree === 1,
  semantic: r.pAgree,
  agrees: r.agrees,
});
