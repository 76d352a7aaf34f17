import type { Calibration } from '../judge/calibration';
import { type EmbeddedAnswer, embeddedAnswer, judgeEmbedded } from '../judge/embedding';
import { slotConflicts } from '../judge/features';
import { type ErrorBudget, errorUpperBound } from '../promotion/budget';
import { answerForm, familyJoinThreshold } from '../promotion/families';
import { formText } from '../promotion/judged';
import { normaliseAnswer } from '../serving/answer';
import { renderAnswer, templateSlots } from '../serving/render';
import type { ScriptSpec } from '../serving/script';
import type { Example } from './induce';
import type { RunGraduationInput } from './load';
import { DEFAULT_POLICY, type Evidence, type GraduationPolicy, type ReplayRow, splitHoldout } from './verify';

/**
 * Re-verification of a reviewer's edit of a judged candidate, with the tenant's judge instead of string matching:
 * an edit that rewords the answer agrees when the judge says it agrees in meaning with what users accepted. Two
 * pure steps around the embedding cache (the activity embeds `texts` in between): judgedEditReplay renders the edit
 * and the original on the candidate's held-out interactions; verifyJudgedEdit judges both and decides.
 */

/** The candidate's held-out accepted interactions: graduation's split (splitHoldout), per cluster of the candidate. */
export function judgedEditHoldout(
  data: Pick<RunGraduationInput, 'examples' | 'exampleClusters'>,
  clusterIds: string[],
  fraction = DEFAULT_POLICY.holdoutFraction,
): Example[] {
  const byCluster = new Map<string, Example[]>(clusterIds.map((id) => [id, []]));
  data.examples.forEach((e, i) => byCluster.get(data.exampleClusters[i]!)?.push(e));
  return [...byCluster.values()].flatMap((m) => splitHoldout(m, fraction).holdout);
}

type Rendering = { rendered: string; form: string } | { error: string };

export interface JudgedEditReplay {
  rows: Array<{ example: Example; edit: Rendering; original: Rendering; accepted: string }>;
  /** Every text the judge compares (answer forms, slot values abstracted as graduation judged them): embed these. */
  texts: string[];
}

/** What the judge compares: an answer with the query's slot values abstracted (as judged graduation compares forms). */
const formOf = (answer: string, slots: Record<string, string>) => formText(answerForm(answer, slots).template);

function render(template: string, script: ScriptSpec | null, e: Example): Rendering {
  try {
    const rendered = renderAnswer(template, { query: e.query, slots: e.slots }, script);
    return { rendered, form: formOf(rendered, e.slots) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Renders the edit and the original version on each held-out interaction. */
export function judgedEditReplay(input: {
  holdout: ReadonlyArray<Example>;
  template: string;
  script: ScriptSpec | null;
  original: { template: string; script: ScriptSpec | null };
}): JudgedEditReplay {
  const texts = new Set<string>();
  const rows = input.holdout.map((example) => {
    const edit = render(input.template, input.script, example);
    const original = render(input.original.template, input.original.script, example);
    const accepted = formOf(example.answer, example.slots);
    for (const r of [edit, original]) if ('form' in r) texts.add(r.form);
    texts.add(accepted);
    return { example, edit, original, accepted };
  });
  return { rows, texts: [...texts].sort() };
}

export interface JudgedEditContext {
  /** An embedding of every `texts` text of the replay. */
  vectors: ReadonlyMap<string, Float32Array>;
  /** The tenant's judge (its latest calibration) and error budget. */
  calibration: Calibration;
  budget: ErrorBudget;
  /** The original version's judged evidence: routes and their thresholds stay (the edit does not change routing). */
  prior: NonNullable<Evidence['judged']>;
  clusterIds: string[];
  template: string;
  policy?: Pick<GraduationPolicy, 'minCoverage'>;
  warnings?: string[];
}

/**
 * Judges the edit's and the original's answers against the accepted ones: an answer is right at P(agree) >= 1 − the
 * budget's error rate (the level judged graduation counts at). The edit passes when its wrong answers stay within the
 * budget (errors / rendered <= maxErrorRate) or are no more than the original version's on the same rows (an edit no
 * worse than what passed), and it renders for enough queries (coverage, as for any edit).
 */
export function verifyJudgedEdit(replay: JudgedEditReplay, ctx: JudgedEditContext): Evidence {
  const minCoverage = ctx.policy?.minCoverage ?? DEFAULT_POLICY.minCoverage;
  const agreeAt = familyJoinThreshold(ctx.budget);
  const cache = new Map<string, Required<EmbeddedAnswer>>();
  const prepared = (text: string) => {
    let a = cache.get(text);
    if (!a) {
      const v = ctx.vectors.get(text);
      if (!v) throw new Error(`verifyJudgedEdit: no embedding for ${JSON.stringify(text.slice(0, 60))}`);
      a = embeddedAnswer(text, v);
      cache.set(text, a);
    }
    return a;
  };
  const pAgree = (r: { rendered: string; form: string }, example: Example, accepted: string): number => {
    if (normaliseAnswer(r.rendered) === normaliseAnswer(example.answer)) return 1;
    // A wrong slot value is a wrong answer however similar the text.
    if (slotConflicts(r.rendered, example.answer).length) return 0;
    return judgeEmbedded(ctx.calibration, prepared(r.form), prepared(accepted)).pAgree;
  };

  const rows: ReplayRow[] = [];
  let originalErrors = 0;
  for (const { example: e, edit, original, accepted } of replay.rows) {
    if ('form' in original && pAgree(original, e, accepted) < agreeAt) originalErrors++;
    if (!('form' in edit)) {
      rows.push({ id: e.id, query: e.query, accepted: e.answer, error: edit.error, exact: false, normalised: false, agrees: false });
      continue;
    }
    const p = pAgree(edit, e, accepted);
    const exact = edit.rendered === e.answer;
    rows.push({
      id: e.id,
      query: e.query,
      accepted: e.answer,
      rendered: edit.rendered,
      exact,
      normalised: exact || normaliseAnswer(edit.rendered) === normaliseAnswer(e.answer),
      semantic: p,
      agrees: p >= agreeAt,
    });
  }
  const covered = rows.filter((r) => r.rendered !== undefined);
  const agreed = covered.filter((r) => r.agrees).length;
  const errors = covered.length - agreed;
  const precision = covered.length ? agreed / covered.length : 0;
  const coverage = rows.length ? covered.length / rows.length : 0;

  // The budget's share of the rendered answers, or what the original version (which passed) got wrong on the same rows.
  const allowed = Math.max(Math.floor(ctx.budget.maxErrorRate * covered.length + 1e-9), originalErrors);
  const reasons: string[] = [];
  if (rows.length === 0) reasons.push('no held-out examples to replay');
  if (covered.length === 0 || errors > allowed)
    reasons.push(
      `precision ${fmt(precision)} < ${fmt(1 - ctx.budget.maxErrorRate)}: the judge counts ${errors} of ${covered.length} rendered answers wrong (P(agree) < ${fmt(agreeAt)}); ` +
        `the error budget allows ${Math.floor(ctx.budget.maxErrorRate * covered.length + 1e-9)} and the original version got ${originalErrors} of the same rows wrong`,
    );
  if (coverage < minCoverage)
    reasons.push(`coverage ${fmt(coverage)} < ${fmt(minCoverage)} (slots without values: ${rows.find((r) => r.error)?.error ?? 'none'})`);

  const ordered = [...rows].sort((a, b) => Number(a.agrees) - Number(b.agrees) || (a.semantic ?? 0) - (b.semantic ?? 0));
  return {
    match: 'judged',
    heldOut: rows.length,
    covered: covered.length,
    agreed,
    precision,
    precisionLowerBound: covered.length ? 1 - errorUpperBound(errors, covered.length, ctx.budget) : 0,
    coverage,
    exactRate: covered.length ? covered.filter((r) => r.exact).length / covered.length : 0,
    normalisedRate: covered.length ? covered.filter((r) => r.normalised).length / covered.length : 0,
    semanticMean: covered.length ? covered.reduce((a, r) => a + r.semantic!, 0) / covered.length : null,
    // Routing is unchanged by an edit: the routes keep the thresholds admission calibrated (prior.routes).
    falsePositives: { tested: 0, routedHere: 0, wrong: 0, rate: 0, examples: [] },
    examples: ordered.slice(0, 25),
    passed: reasons.length === 0,
    reasons,
    warnings: ctx.warnings ?? [],
    judged: {
      ...ctx.prior,
      judge: `embedding:${ctx.calibration.id}`,
      calibrationAuc: ctx.calibration.auc,
      budget: ctx.budget,
      forms: [{ template: ctx.template, slots: templateSlots(ctx.template), support: covered.length, clusterIds: ctx.clusterIds }],
    },
  };
}

const fmt = (x: number) => x.toFixed(3);
