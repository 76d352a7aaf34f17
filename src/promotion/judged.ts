import { createHash } from 'node:crypto';
import { type Calibration, fitCalibration, identicalOnlyCalibration } from '../judge/calibration';
import { type EmbeddedAnswer, embeddedAnswer, judgeEmbedded } from '../judge/embedding';
import { slotConflicts } from '../judge/features';
import { calibrationSamples, withAgreeingEdits } from '../judge/pairs';
import { normaliseAnswer } from '../serving/answer';
import { renderAnswer } from '../serving/render';
import { type AdmissionOptions, type AdmissionSample, type Admission, admitRoutes, thresholdGrid, walkStart } from './admission';
import { DEFAULT_BUDGET, type ErrorBudget, errorUpperBound } from './budget';
import {
  type ClusterCanonical,
  type PooledCandidate,
  answerForm,
  canonicalAgreement,
  chooseForm,
  distinctForms,
  familyJoinThreshold,
  groupFamilies,
  poolCanonicals,
  withoutSlots,
} from './families';

/**
 * Judged graduation: the whole promotion of a clustering run's clusters to canonical answers, as plain functions.
 * 1. every accepted answer becomes a form (the query's slot values abstracted) and is embedded once (answerTexts);
 * 2. the tenant's judge is calibrated on its own pairs (same cluster, neighbouring clusters, edits);
 * 3. per cluster, forms group into families by meaning; the largest family's canonical form (its most central
 *    answer, one the teacher gave and users accepted) is the cluster's proposal, kept only when it agrees with the
 *    cluster's own logged answers within the budget;
 * 4. clusters whose canonicals agree pool into one candidate (slotted and constant forms of one intent together);
 * 5. held-out queries (never used for 1–4) go to their nearest route, are served the candidate's form for the slots
 *    they bind, and the judge compares it with their accepted answer; admission under the ONE budget (admission.ts)
 *    picks each route's similarity threshold and certifies the routes it serves.
 */

export interface JudgedExample {
  id: number;
  clusterId: string;
  query: string;
  slots: Record<string, string>;
  /** The accepted answer (a user's edit replaces the teacher's). */
  answer: string;
  /** The teacher's answer when a user edited it. */
  editedFrom?: string;
}

/** A held-out accepted interaction and the route the router sends its query to (its nearest centroid). */
export interface HeldOutExample extends JudgedExample {
  routedTo: string;
  similarity: number;
}

export interface JudgedClusterInfo {
  clusterId: string;
  /** Similarities of the cluster's clustered queries to its centroid: the label-free threshold grid. */
  memberSimilarities: number[];
  /** Its nearest other clusters (hard negatives for the calibration). */
  neighbours: string[];
}

export interface JudgedInput {
  clusters: JudgedClusterInfo[];
  train: JudgedExample[];
  heldOut: HeldOutExample[];
  budget?: ErrorBudget;
  /** Fewest training answers a cluster needs for its families to mean anything. */
  minClusterExamples?: number;
  /** How admission certifies (admission.ts); default: the walk from the smallest sample that can pass clean. */
  admission?: AdmissionOptions;
}

/** One replayed held-out query: what was served, what was accepted, and the judge's P(agree). */
export interface JudgedReplay {
  id: number;
  query: string;
  routedTo: string;
  similarity: number;
  accepted: string;
  rendered: string;
  pAgree: number;
  agrees: boolean;
  /** Which split it counted on: screening (chose thresholds) or calibration (certified). */
  split: 'screening' | 'calibration';
}

export interface JudgedCandidate {
  /** Every cluster pooled into the candidate; `routes` says which of them admission lets it serve. */
  clusterIds: string[];
  forms: PooledCandidate['forms'];
  /** The forms as one Handlebars template (sections chosen by which slots the query binds). */
  template: string;
  routes: Array<{ clusterId: string; threshold: number; n: number; errors: number }>;
  /** Held-out replay of its clusters (disagreements first, at most 25). */
  replay: JudgedReplay[];
  /** Held-out queries routed to its clusters; those it served (a form's slots bound) and the wrong ones. */
  routed: number;
  served: number;
  wrong: number;
  /** Served answers equal to the accepted one after normalisation (for comparison with string matching). */
  normalisedAgreed: number;
  /** Served queries from other clusters (the router's false positives) and the wrong ones among them. */
  foreign: { served: number; wrong: number; examples: JudgedReplay[] };
  passed: boolean;
  reasons: string[];
}

export interface JudgedResult {
  calibration: Calibration;
  budget: ErrorBudget;
  candidates: JudgedCandidate[];
  /** Why a cluster serves nothing; absent reason when it is admitted. */
  clusters: Array<{ clusterId: string; reason?: string }>;
  admission: Pick<Admission, 'level' | 'pooled' | 'reason'>;
  families: number;
}

/** What the judge sees of a form: its literal text with `\{{` unescaped (slot references stay as `{{id}}`). */
export const formText = (template: string) => template.replace(/\\\{\{(?:!\}\})?/g, '{{');
const formOf = (answer: string, slots: Record<string, string>) => answerForm(answer, slots).template;
/** Fewest accepted answers a cluster too small for its own families needs to join a pooled candidate. */
const MIN_JOIN_EXAMPLES = 3;

/** Every text judged graduation embeds: each answer's form (accepted and edited-from), and slot-free forms. */
export function answerTexts(input: Pick<JudgedInput, 'train' | 'heldOut'>): string[] {
  const out = new Set<string>();
  for (const x of [...input.train, ...input.heldOut]) {
    for (const a of x.editedFrom ? [x.answer, x.editedFrom] : [x.answer]) {
      const t = formText(formOf(a, x.slots));
      out.add(t);
      // Pooling compares canonicals with their slot references set aside.
      const bare = withoutSlots(t);
      if (bare !== t) out.add(bare);
    }
  }
  return [...out].sort();
}

const unit = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;

/**
 * Several forms as one template: the form with the most slots the query binds, as chooseForm picks it, written as
 * nested `{{#if}}` sections so any Handlebars renderer serves it (strict mode allows a missing slot in `#if`).
 */
export function formsTemplate(forms: ReadonlyArray<{ template: string; slots: string[] }>): string {
  const ordered = [...forms].sort((a, b) => b.slots.length - a.slots.length);
  const build = (i: number): string => {
    const f = ordered[i]!;
    if (i === ordered.length - 1 || f.slots.length === 0) return f.template;
    const rest = build(i + 1);
    return f.slots.reduceRight((inner, s) => `{{#if ${s}}}${inner}{{else}}${rest}{{/if}}`, f.template);
  };
  return ordered.length ? build(0) : '';
}

/** The judged graduation of a run (see the module comment). `vectors` holds an embedding of every answerTexts text. */
export function judgedGraduation(input: JudgedInput, vectors: ReadonlyMap<string, Float32Array>): JudgedResult {
  const budget = input.budget ?? DEFAULT_BUDGET;
  const minExamples = input.minClusterExamples ?? 3;
  const strict = familyJoinThreshold(budget);
  const cache = new Map<string, Required<EmbeddedAnswer>>();
  const prepared = (text: string) => {
    let a = cache.get(text);
    if (!a) {
      const v = vectors.get(text);
      if (!v) throw new Error(`judgedGraduation: no embedding for answer text ${JSON.stringify(text.slice(0, 60))}`);
      a = embeddedAnswer(text, v);
      cache.set(text, a);
    }
    return a;
  };
  const form = (answer: string, slots: Record<string, string>) => prepared(formText(formOf(answer, slots)));
  const byCluster = new Map<string, JudgedExample[]>(input.clusters.map((c) => [c.clusterId, []]));
  for (const x of input.train) byCluster.get(x.clusterId)?.push(x);
  const info = new Map(input.clusters.map((c) => [c.clusterId, c]));

  // 1. The judge, calibrated on the tenant's own pairs.
  const logged = (x: JudgedExample, answer: string) => {
    const a = form(answer, x.slots);
    return { cluster: x.clusterId, text: a.text, vec: a.vec };
  };
  const samples = calibrationSamples({
    accepted: input.train.map((x) => logged(x, x.answer)),
    edits: input.train.flatMap((x) => (x.editedFrom ? [{ original: logged(x, x.editedFrom), edited: logged(x, x.answer) }] : [])),
    neighbours: (c) => info.get(c)?.neighbours ?? [],
    pairsPerCluster: 60,
  });
  const positives = samples.filter((s) => s.y === 1).length;
  // Without both kinds of pairs (a tenant with one cluster) nothing can be calibrated: only identical answers agree.
  const calibration =
    positives > 0 && positives < samples.length
      ? fitCalibration(samples)
      : identicalOnlyCalibration({ positives, negatives: samples.length - positives, bySource: {} });
  const judged = (a: string, b: string) => (a === b ? 1 : judgeEmbedded(calibration, prepared(formText(a)), prepared(formText(b))).pAgree);
  // Rewording edits are the tenant's direct evidence that two texts agree.
  const agreeForms = withAgreeingEdits(
    judged,
    [...input.train, ...input.heldOut].flatMap((x) => (x.editedFrom ? [{ original: formOf(x.editedFrom, x.slots), edited: formOf(x.answer, x.slots) }] : [])),
  );
  // An answer counts as right only at P(agree) >= 1 - budget: the level families join at.
  const wrongOf = (p: number) => (p >= strict ? 0 : 1);

  // 2. Families per cluster; the largest family's canonical proposes the cluster's answer.
  const verdicts = new Map<string, string | undefined>();
  const canonicals: ClusterCanonical[] = [];
  let familyCount = 0;
  const small: string[] = [];
  for (const c of input.clusters) {
    const m = byCluster.get(c.clusterId)!;
    if (m.length < minExamples) {
      verdicts.set(c.clusterId, `${m.length} accepted interactions < ${minExamples}`);
      if (m.length >= MIN_JOIN_EXAMPLES) small.push(c.clusterId);
      continue;
    }
    const forms = distinctForms(m.map((x) => ({ id: x.id, answer: x.answer, slots: x.slots })));
    const index = new Map(forms.map((f, i) => [f.template, i]));
    const edits = m
      .flatMap((x) => (x.editedFrom ? [{ original: index.get(formOf(x.editedFrom, x.slots)) ?? -1, edited: index.get(formOf(x.answer, x.slots))! }] : []))
      .filter((e) => e.original >= 0);
    const fams = groupFamilies(forms, (i, j) => agreeForms(forms[i]!.template, forms[j]!.template), { budget, edits });
    familyCount += fams.length;
    const top = fams[0]!;
    const inSample = canonicalAgreement(forms, top.canonical, (i, j) => 1 - wrongOf(agreeForms(forms[i]!.template, forms[j]!.template)));
    if (1 - inSample > budget.maxErrorRate) {
      verdicts.set(
        c.clusterId,
        `its answers do not agree in meaning: the best canonical answer agrees with ${(100 * inSample).toFixed(1)}% of them (${fams.length} answer families)`,
      );
      continue;
    }
    canonicals.push({ clusterId: c.clusterId, form: forms[top.canonical]!, support: top.support });
  }

  // 3. Pool clusters whose canonicals agree with their slot references set aside.
  const bare = canonicals.map((c) => prepared(withoutSlots(formText(c.form.template))));
  const pooled = poolCanonicals(canonicals, (i, j) => judgeEmbedded(calibration, bare[i]!, bare[j]!).pAgree, { budget });
  const poolOf = new Map<string, number>();
  pooled.forEach((p, k) => p.clusterIds.forEach((id) => poolOf.set(id, k)));
  // A cluster too small for families of its own (an intent's queries split thinly by clustering) joins the pooled
  // candidate that gives every one of its accepted answers; admission then judges it on held-out traffic like any route.
  for (const id of small) {
    const answers = byCluster.get(id)!;
    const k = pooled.findIndex((p) =>
      answers.every((x) => {
        const f = chooseForm(p.forms, x.slots);
        if (!f || slotConflicts(renderAnswer(f.template, { query: x.query, slots: x.slots }), x.answer).length) return false;
        return !wrongOf(agreeForms(f.template, formOf(x.answer, x.slots)));
      }),
    );
    if (k < 0) {
      verdicts.set(id, `${verdicts.get(id)}, and no pooled candidate gives all of its answers`);
      continue;
    }
    pooled[k]!.clusterIds.push(id);
    poolOf.set(id, k);
    verdicts.delete(id);
  }

  // 4. Replay the held-out queries on their nearest routes; split by a hash into screening and calibration.
  const replays = pooled.map((): JudgedReplay[] => []);
  const routedCount = pooled.map(() => 0);
  const clusterOf = new Map(input.heldOut.map((x) => [x.id, x.clusterId]));
  const screening = new Map<string, AdmissionSample[]>();
  const certifying = new Map<string, AdmissionSample[]>();
  for (const x of input.heldOut) {
    const k = poolOf.get(x.routedTo);
    if (k === undefined) continue;
    routedCount[k]!++;
    const f = chooseForm(pooled[k]!.forms, x.slots);
    if (!f) continue;
    const rendered = renderAnswer(f.template, { query: x.query, slots: x.slots });
    const p = slotConflicts(rendered, x.answer).length ? 0 : agreeForms(f.template, formOf(x.answer, x.slots));
    const split = unit(`screen:${x.id}`) < 0.5 ? 'screening' : 'calibration';
    const samples = split === 'screening' ? screening : certifying;
    samples.set(x.routedTo, [...(samples.get(x.routedTo) ?? []), { similarity: x.similarity, wrong: wrongOf(p) }]);
    replays[k]!.push({
      id: x.id,
      query: x.query,
      routedTo: x.routedTo,
      similarity: x.similarity,
      accepted: x.answer,
      rendered,
      pAgree: p,
      agrees: !wrongOf(p),
      split,
    });
  }

  // 5. Admission under the one budget: per-route thresholds from the route's own members, certified on calibration.
  const admission = admitRoutes(
    pooled
      .flatMap((p) => p.clusterIds)
      .filter((id) => (info.get(id)?.memberSimilarities.length ?? 0) > 0)
      .map((id) => ({
        id,
        thresholds: thresholdGrid(info.get(id)!.memberSimilarities),
        screening: screening.get(id) ?? [],
        calibration: certifying.get(id) ?? [],
      })),
    budget,
    {
      startTolerance: startTolerance(
        budget,
        [...certifying.values()].reduce((a, s) => a + s.length, 0),
      ),
      ...input.admission,
    },
  );
  const admitted = new Map(admission.admitted.map((a) => [a.id, a]));
  for (const r of admission.refused) if (!verdicts.has(r.id)) verdicts.set(r.id, `not admitted within the error budget: ${r.reason}`);

  const candidates = pooled.map((p, k): JudgedCandidate => {
    const rows = replays[k]!;
    const routes = p.clusterIds.flatMap((id) => {
      const a = admitted.get(id);
      return a ? [{ clusterId: id, threshold: a.threshold, n: a.n, errors: a.errors }] : [];
    });
    const wrong = rows.filter((r) => !r.agrees).length;
    const foreign = rows.filter((r) => !p.clusterIds.includes(clusterOf.get(r.id)!));
    const reasons = routes.length
      ? []
      : [
          admission.reason ??
            p.clusterIds
              .map((id) => verdicts.get(id))
              .filter(Boolean)
              .join('; '),
        ];
    return {
      clusterIds: p.clusterIds,
      forms: p.forms,
      template: formsTemplate(p.forms),
      routes,
      replay: [...rows].sort((a, b) => Number(a.agrees) - Number(b.agrees) || a.id - b.id).slice(0, 25),
      routed: routedCount[k]!,
      served: rows.length,
      wrong,
      normalisedAgreed: rows.filter((r) => normaliseAnswer(r.rendered) === normaliseAnswer(r.accepted)).length,
      foreign: { served: foreign.length, wrong: foreign.filter((r) => !r.agrees).length, examples: foreign.filter((r) => !r.agrees).slice(0, 10) },
      passed: routes.length > 0,
      reasons,
    };
  });
  return {
    calibration,
    budget,
    candidates,
    clusters: input.clusters.map((c) => ({
      clusterId: c.clusterId,
      reason: admitted.has(c.clusterId) ? undefined : (verdicts.get(c.clusterId) ?? 'no held-out queries reached it'),
    })),
    admission: { level: admission.level, pooled: admission.pooled, reason: admission.reason },
    families: familyCount,
  };
}

/**
 * How many errors the walk's first test may hold: as many as the certifying split can afford (its first prefix at
 * most half of it), so one early wrong answer does not stop a tenant with evidence to spare, and a small tenant's
 * first routes still need no more than the smallest clean sample. Chosen from counts alone, never from labels.
 */
export function startTolerance(budget: ErrorBudget, certifyingSamples: number): number {
  let t = 0;
  while (t < 3 && walkStart(budget, t + 1) <= certifyingSamples / 2) t++;
  return t;
}

/** The 95% upper bound of a candidate's own error rate on its served held-out queries (for the reviewer). */
export function candidateErrorBound(c: Pick<JudgedCandidate, 'served' | 'wrong'>, budget: ErrorBudget = DEFAULT_BUDGET): number {
  return errorUpperBound(c.wrong, c.served, budget);
}
