import { describe, expect, it } from 'vitest';
import { judgedLines } from '../../src/cli/graduation';
import type { Example } from '../../src/graduation/induce';
import { judgedEditHoldout, judgedEditReplay, verifyJudgedEdit } from '../../src/graduation/judged-edit';
import { type Evidence, splitHoldout, verifyCandidate } from '../../src/graduation/verify';
import type { Calibration } from '../../src/judge/calibration';
import { FEATURE_NAMES } from '../../src/judge/features';
import type { ErrorBudget } from '../../src/promotion/budget';

/**
 * Re-verifying a reviewer's edit of a judged candidate with the judge. Answers are embedded by what they say: an
 * answer about the Security settings points one way, anything else the other; the calibration reads a cosine of at
 * least 0.8 as P(agree) 0.995 and less as 0.02 (a judge that tells rewordings from other answers).
 */
const calibration: Calibration = {
  features: [...FEATURE_NAMES],
  weights: [10, 0, 0, 0, 0],
  bias: -5,
  steps: { score: [-100, 3], p: [0.02, 0.995] },
  counts: { positives: 10, negatives: 10, bySource: {} },
  auc: 0.97,
  id: 'cal-test',
};
const budget: ErrorBudget = { maxErrorRate: 0.01, confidence: 0.95, method: 'clopper-pearson' };
const vec = (text: string) => (/security/i.test(text) ? new Float32Array([1, 0]) : new Float32Array([0, 1]));

const original = 'To reset your password, open Settings > Security and choose "Reset password".';
const reworded = 'Go to Settings, then Security, and pick "Reset password" to reset it.';
const holdout: Example[] = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  query: `reset my password ${i}`,
  slots: {},
  // A few accepted answers are users' rewordings of the same answer.
  answer: i % 10 === 0 ? 'Open Settings > Security and choose "Reset password" to reset your password.' : original,
}));
const prior: NonNullable<Evidence['judged']> = {
  judge: 'embedding:cal-old',
  calibrationAuc: 0.9,
  budget,
  forms: [{ template: original, slots: [], support: 90, clusterIds: ['c1'] }],
  pooled: ['c1', 'c2'],
  routes: [{ clusterId: 'c1', threshold: 0.64, n: 40, errors: 0 }],
  admission: { level: 0.01, pooled: { ok: true, bound: 0.009, errors: 0, n: 320 } },
};

function verifyEdit(template: string, rows: Example[] = holdout, b: ErrorBudget = budget) {
  const replay = judgedEditReplay({ holdout: rows, template, script: null, original: { template: original, script: null } });
  return verifyJudgedEdit(replay, {
    vectors: new Map(replay.texts.map((t) => [t, vec(t)])),
    calibration,
    budget: b,
    prior,
    clusterIds: ['c1'],
    template,
  });
}

describe('judged re-verification of an edit', () => {
  it('passes an edit that rewords the answer, which string matching fails', () => {
    const e = verifyEdit(reworded);
    expect(e).toMatchObject({ match: 'judged', passed: true, heldOut: 40, covered: 40, agreed: 40, coverage: 1, reasons: [] });
    expect(e.examples.every((r) => r.rendered === reworded && r.semantic === 0.995 && r.agrees)).toBe(true);
    // The judge, the tenant's budget and the edit as the form; routes and their thresholds stay the original's.
    expect(e.judged).toMatchObject({ judge: 'embedding:cal-test', calibrationAuc: 0.97, budget, pooled: ['c1', 'c2'], routes: prior.routes });
    expect(e.judged!.forms).toEqual([{ template: reworded, slots: [], support: 40, clusterIds: ['c1'] }]);
    expect(verifyCandidate({ proposal: { template: reworded, script: null }, holdout }).passed).toBe(false);
  });

  it('fails an edit that says something else, on precision', () => {
    const e = verifyEdit('Something else entirely.');
    expect(e.passed).toBe(false);
    expect(e.agreed).toBe(0);
    expect(e.reasons).toEqual([
      'precision 0.000 < 0.990: the judge counts 40 of 40 rendered answers wrong (P(agree) < 0.990); the error budget allows 0 and the original version got 0 of the same rows wrong',
    ]);
    expect(e.examples[0]).toMatchObject({ rendered: 'Something else entirely.', semantic: 0.02, agrees: false });
  });

  it('fails an edit with a slot the queries do not bind, on coverage', () => {
    const e = verifyEdit(`${original} Your account: {{email}}`);
    expect(e.coverage).toBe(0);
    expect(e.passed).toBe(false);
    expect(e.reasons.join('; ')).toMatch(/coverage 0\.000 < 0\.900 \(slots without values: .*email/);
  });

  it('allows wrong answers within the budget, or no more than the original got wrong; not more', () => {
    // Wrong for the queries that bind no email (the last `wrong` of 40).
    const edit = '{{#if email}}Open Settings > Security and choose "Reset password".{{else}}Call us.{{/if}}';
    const rows = (wrong: number) => holdout.map((x, i) => (i < 40 - wrong ? { ...x, slots: { email: 'ana@example.com' } } : x));
    const at = (maxErrorRate: number) => ({ ...budget, maxErrorRate });
    expect(verifyEdit(edit, rows(2), at(0.05))).toMatchObject({ covered: 40, agreed: 38, passed: true });
    const over = verifyEdit(edit, rows(3), at(0.05));
    expect(over.passed).toBe(false);
    expect(over.reasons).toEqual([
      'precision 0.925 < 0.950: the judge counts 3 of 40 rendered answers wrong (P(agree) < 0.950); the error budget allows 2 and the original version got 0 of the same rows wrong',
    ]);
    // An original that already got the same 3 rows wrong ("Call us now."): the edit is no worse, over the budget or not.
    const both = rows(3);
    const replay = judgedEditReplay({
      holdout: both,
      template: edit,
      script: null,
      original: { template: edit.replace('Call us.', 'Call us now.'), script: null },
    });
    const e = verifyJudgedEdit(replay, {
      vectors: new Map(replay.texts.map((t) => [t, vec(t)])),
      calibration,
      budget: at(0.05),
      prior,
      clusterIds: ['c1'],
      template: edit,
    });
    expect(e).toMatchObject({ agreed: 37, passed: true, reasons: [] });
  });

  it('replays on the held-out split of the candidate clusters only', () => {
    const examples = Array.from({ length: 60 }, (_, i): Example => ({ id: 100 + i, query: `q${i}`, slots: {}, answer: original }));
    const exampleClusters = examples.map((_, i) => (i % 3 === 0 ? 'c1' : i % 3 === 1 ? 'c2' : 'c3'));
    const got = judgedEditHoldout({ examples, exampleClusters }, ['c1', 'c3'], 0.3);
    const want = ['c1', 'c3'].flatMap(
      (c) =>
        splitHoldout(
          examples.filter((_, i) => exampleClusters[i] === c),
          0.3,
        ).holdout,
    );
    expect(got.map((e) => e.id)).toEqual(want.map((e) => e.id));
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((e) => exampleClusters[e.id - 100] !== 'c2')).toBe(true);
  });
});

describe('review show of a judged candidate', () => {
  it('prints the judge, clusters, forms, route thresholds and rendered | accepted | verdict p rows', () => {
    const e = verifyEdit('Something else entirely.');
    const lines = judgedLines(
      prior,
      [
        { clusterId: 'c1', label: 'reset password', share: 0.2, examples: ['forgot my password'], serves: true },
        { clusterId: 'c2', label: 'reset password in the app', share: 0.01, examples: ['reset in app'], serves: false },
      ],
      e.examples.slice(0, 1),
    ).join('\n');
    expect(lines).toContain('judge: embedding:cal-old (calibration AUC 0.900); budget: wrong <= 1.0% at 95.0% (clopper-pearson); right at P(agree) >= 0.990');
    expect(lines).toContain('c2 (pooled, not served)  reset password in the app  e.g. "reset in app"');
    expect(lines).toContain(`[no slots] support 90: ${JSON.stringify(original)}`);
    expect(lines).toContain('c1  threshold 0.640  (0 wrong of 40 held out)');
    expect(lines).toContain(`"Something else entirely." | ${JSON.stringify(holdout[0]!.answer)} | DISAGREES 0.020`);
  });
});
