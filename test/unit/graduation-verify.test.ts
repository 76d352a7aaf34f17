import { describe, expect, it } from 'vitest';
import type { Example } from '../../src/graduation/induce';
import { DEFAULT_POLICY, type GraduationPolicy, splitHoldout, verifyCandidate } from '../../src/graduation/verify';
import { wilsonLowerBound } from '../../src/promotion/budget';
import { normaliseAnswer } from '../../src/serving/answer';

const REFUND = 'Your refund is on its way.';
const constant = { template: REFUND, script: null };
const ORDER = { template: 'Order {{id}} ships tomorrow.', script: null };

let nextId = 1;
const ex = (answer: string, slots: Record<string, string> = {}, query = 'where is my refund'): Example => ({ id: nextId++, query, slots, answer });
const many = (n: number, answer: string) => Array.from({ length: n }, () => ex(answer));

describe('wilsonLowerBound', () => {
  it('is the lower root of the score test: n (p - L)^2 = z^2 L (1 - L), below the observed rate', () => {
    const z = 1.96;
    for (const [k, n] of [
      [18, 20],
      [50, 60],
      [1, 3],
      [97, 100],
      [5, 1000],
    ] as const) {
      const L = wilsonLowerBound(k, n);
      const p = k / n;
      expect(L).toBeGreaterThan(0);
      expect(L).toBeLessThan(p);
      expect(n * (p - L) ** 2).toBeCloseTo(z * z * L * (1 - L), 10);
    }
  });

  it('with every trial a success it is n / (n + z^2): 10/10 is only ~0.72, so small perfect samples are not enough', () => {
    expect(wilsonLowerBound(10, 10)).toBeCloseTo(10 / (10 + 1.96 ** 2), 12);
    expect(wilsonLowerBound(10, 10)).toBeCloseTo(0.7225, 4);
    // It grows with evidence: the same perfect record over more trials is more convincing.
    expect(wilsonLowerBound(30, 30)).toBeGreaterThan(wilsonLowerBound(10, 10));
    expect(wilsonLowerBound(30, 30)).toBeGreaterThan(DEFAULT_POLICY.minPrecisionLowerBound);
    expect(wilsonLowerBound(10, 10)).toBeLessThan(DEFAULT_POLICY.minPrecisionLowerBound);
  });

  it('is 0 with no successes or no trials', () => {
    expect(wilsonLowerBound(0, 25)).toBe(0);
    expect(wilsonLowerBound(0, 0)).toBe(0);
  });
});

describe('verifyCandidate: precision, coverage and the lower bound', () => {
  it('measures a crafted held-out set: 18 of 20 agree', () => {
    const holdout = [...many(18, REFUND), ex('Your refund was declined.'), ex('Please contact your bank.')];
    const e = verifyCandidate({ proposal: constant, holdout });
    expect(e).toMatchObject({ heldOut: 20, covered: 20, agreed: 18, precision: 0.9, coverage: 1 });
    expect(e.precisionLowerBound).toBeCloseTo(wilsonLowerBound(18, 20), 12);
    expect(e.passed).toBe(false);
    expect(e.reasons.some((r) => r.startsWith('precision 0.900 < 0.980'))).toBe(true);
    expect(e.reasons.some((r) => r.startsWith('precision lower bound'))).toBe(true);
    // Disagreements come first: they are what a reviewer needs to see.
    expect(e.examples.slice(0, 2).map((r) => r.agrees)).toEqual([false, false]);
    expect(
      e.examples
        .slice(0, 2)
        .map((r) => r.accepted)
        .sort(),
    ).toEqual(['Please contact your bank.', 'Your refund was declined.']);
  });

  it('passes with enough perfect evidence and fails on the lower bound alone with too little', () => {
    const big = verifyCandidate({ proposal: constant, holdout: many(30, REFUND) });
    expect(big).toMatchObject({ precision: 1, coverage: 1, passed: true, reasons: [] });
    const small = verifyCandidate({ proposal: constant, holdout: many(10, REFUND) });
    expect(small.precision).toBe(1);
    expect(small.passed).toBe(false);
    expect(small.reasons).toHaveLength(1);
    expect(small.reasons[0]).toMatch(/^precision lower bound 0\.72\d < 0\.850/);
  });

  it('fails with nothing to replay', () => {
    const e = verifyCandidate({ proposal: constant, holdout: [] });
    expect(e.passed).toBe(false);
    expect(e.reasons).toContain('no held-out examples to replay');
  });

  it('a slot with no value for some held-out queries lowers coverage, not precision, and the reason names the slot', () => {
    const withId = Array.from({ length: 27 }, (_, i) => {
      const id = String(100000000 + i);
      return ex(`Order ${id} ships tomorrow.`, { id }, `where is order ${id}`);
    });
    // Queries where masking found no id ("where is my order?"): the template cannot be filled.
    const without = [
      ex('Order 123 ships tomorrow.', {}, 'where is my order?'),
      ex('Order 9 ships tomorrow.', { number: '9' }, 'where is my order 9?'),
      ex('It ships tomorrow.', {}, 'when does it ship?'),
    ];
    const e = verifyCandidate({ proposal: ORDER, holdout: [...withId, ...without] });
    expect(e).toMatchObject({ heldOut: 30, covered: 27, agreed: 27, precision: 1, coverage: 0.9 });
    // 0.9 meets the default minimum coverage exactly; one more miss fails it.
    expect(e.passed).toBe(true);
    const worse = verifyCandidate({ proposal: ORDER, holdout: [...withId.slice(1), ...without, ex('x', {}, 'and mine?')] });
    expect(worse.coverage).toBeCloseTo(26 / 30, 12);
    expect(worse.passed).toBe(false);
    const reason = worse.reasons.find((r) => r.startsWith('coverage'));
    expect(reason).toMatch(/^coverage 0\.867 < 0\.900 \(slots without values: .*"id"/);
    // The rows that could not render say why and carry no rendered answer.
    const failedRows = worse.examples.filter((r) => r.rendered === undefined);
    expect(failedRows).toHaveLength(4);
    for (const r of failedRows) expect(r.error).toMatch(/"id"/);
  });
});

describe('verifyCandidate: matching modes', () => {
  const variants = [REFUND, 'your refund is on its way', '  Your   refund is on its way!  ', 'YOUR REFUND IS ON ITS WAY...', 'Your refund is on its way.\n'];

  it('normaliseAnswer sets aside case, whitespace, typographic quotes and trailing punctuation only', () => {
    for (const v of variants) expect(normaliseAnswer(v)).toBe(normaliseAnswer(REFUND));
    expect(normaliseAnswer('It\u2019s \u201cdone\u201d')).toBe(normaliseAnswer('it\'s "done"'));
    expect(normaliseAnswer('\uFF21BC')).toBe('abc'); // NFKC: full-width letters
    // Punctuation inside the answer and words still matter.
    expect(normaliseAnswer('Your refund, is on its way.')).not.toBe(normaliseAnswer(REFUND));
    expect(normaliseAnswer('Your refund is not on its way.')).not.toBe(normaliseAnswer(REFUND));
  });

  it('normalised mode accepts case/whitespace/punctuation variants that exact mode rejects', () => {
    const holdout = variants.map((v) => ex(v));
    const normalised = verifyCandidate({ proposal: constant, holdout });
    expect(normalised.agreed).toBe(5);
    expect(normalised.exactRate).toBeCloseTo(1 / 5, 12);
    expect(normalised.normalisedRate).toBe(1);
    const exact = verifyCandidate({ proposal: constant, holdout }, { ...DEFAULT_POLICY, match: 'exact' });
    expect(exact.agreed).toBe(1);
    expect(exact.precision).toBeCloseTo(1 / 5, 12);
    expect(exact.match).toBe('exact');
  });

  it('semantic mode needs answerSimilarity', () => {
    expect(() => verifyCandidate({ proposal: constant, holdout: [ex(REFUND)] }, { ...DEFAULT_POLICY, match: 'semantic' })).toThrow(/answerSimilarity/);
  });

  it('semantic mode counts a paraphrase as agreement when its similarity reaches the threshold', () => {
    const paraphrase = 'We have sent your refund.';
    const unrelated = 'Please reset your password.';
    const sims: Record<string, number> = { [paraphrase]: 0.95, [unrelated]: 0.4 };
    const calls: string[] = [];
    const answerSimilarity = (rendered: string, accepted: string) => {
      expect(rendered).toBe(REFUND);
      calls.push(accepted);
      return sims[accepted] ?? 0;
    };
    const holdout = [ex(REFUND), ex('your refund is on its way'), ex(paraphrase), ex(unrelated)];
    const semantic: GraduationPolicy = { ...DEFAULT_POLICY, match: 'semantic', semanticThreshold: 0.92 };
    const e = verifyCandidate({ proposal: constant, holdout, answerSimilarity }, semantic);
    // Normalised-equal answers agree without asking the model; the paraphrase passes 0.92, the unrelated one does not.
    expect(calls.sort()).toEqual([paraphrase, unrelated].sort());
    expect(e.agreed).toBe(3);
    expect(e.semanticMean).toBeCloseTo((1 + 1 + 0.95 + 0.4) / 4, 12);
    const stricter = verifyCandidate({ proposal: constant, holdout, answerSimilarity }, { ...semantic, semanticThreshold: 0.96 });
    expect(stricter.agreed).toBe(2);
    // The same similarity in normalised mode changes nothing about agreement.
    expect(verifyCandidate({ proposal: constant, holdout, answerSimilarity }).agreed).toBe(2);
  });
});

describe('verifyCandidate: false positives from neighbouring clusters', () => {
  const holdout = many(30, REFUND);
  const neighbour = (answer: string, routedHere: boolean, slots: Record<string, string> = {}) => ({
    ...ex(answer, slots, 'how do I reset my password'),
    routedHere,
  });

  it('fails when neighbours routed here would get a wrong answer more often than the policy allows', () => {
    const neighbours = [
      ...Array.from({ length: 3 }, () => neighbour('Click "Forgot password".', true)),
      ...Array.from({ length: 97 }, () => neighbour('Click "Forgot password".', false)),
    ];
    const e = verifyCandidate({ proposal: constant, holdout, neighbours });
    expect(e.falsePositives).toMatchObject({ tested: 100, routedHere: 3, wrong: 3, rate: 0.03 });
    expect(e.falsePositives.examples).toHaveLength(3);
    expect(e.passed).toBe(false);
    expect(e.reasons).toEqual(['false positives from neighbouring clusters 0.030 > 0.010']);
    // A laxer policy accepts the same evidence.
    expect(verifyCandidate({ proposal: constant, holdout, neighbours }, { ...DEFAULT_POLICY, maxFalsePositiveRate: 0.05 }).passed).toBe(true);
  });

  it('does not count neighbours the router sends elsewhere, however different their answers', () => {
    const neighbours = Array.from({ length: 50 }, () => neighbour('Click "Forgot password".', false));
    const e = verifyCandidate({ proposal: constant, holdout, neighbours });
    expect(e.falsePositives).toMatchObject({ tested: 50, routedHere: 0, wrong: 0, rate: 0 });
    expect(e.passed).toBe(true);
  });

  it('does not count neighbours routed here whose accepted answer is the candidate answer, or that it cannot render', () => {
    const same = Array.from({ length: 5 }, () => neighbour('your refund is on its way', true));
    const e = verifyCandidate({ proposal: constant, holdout, neighbours: same });
    expect(e.falsePositives).toMatchObject({ routedHere: 5, wrong: 0 });
    expect(e.passed).toBe(true);
    // A template whose slot the neighbour lacks falls back to the model: no wrong answer is served.
    const orderHoldout = Array.from({ length: 30 }, (_, i) => ex(`Order ${1000 + i} ships tomorrow.`, { id: String(1000 + i) }));
    const unrenderable = Array.from({ length: 5 }, () => neighbour('Click "Forgot password".', true));
    const t = verifyCandidate({ proposal: ORDER, holdout: orderHoldout, neighbours: unrenderable });
    expect(t.falsePositives).toMatchObject({ routedHere: 5, wrong: 0 });
    expect(t.passed).toBe(true);
  });
});

describe('splitHoldout', () => {
  const items = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ id: from + i }));
  const sideOf = (s: { holdout: Array<{ id: number }> }) => new Set(s.holdout.map((e) => e.id));

  it('is deterministic, partitions the input, and holds out about the asked fraction', () => {
    const all = items(0, 2000);
    const a = splitHoldout(all, 0.3);
    const b = splitHoldout([...all].reverse(), 0.3);
    expect(a.train.length + a.holdout.length).toBe(2000);
    expect(new Set([...a.train, ...a.holdout].map((e) => e.id)).size).toBe(2000);
    expect(sideOf(b)).toEqual(sideOf(a)); // the order of the input does not matter
    expect(a.holdout.length / 2000).toBeGreaterThan(0.26);
    expect(a.holdout.length / 2000).toBeLessThan(0.34);
  });

  it('keeps every example on its side when examples are added', () => {
    const before = splitHoldout(items(0, 300), 0.3);
    const after = splitHoldout(items(0, 900), 0.3);
    const held = sideOf(after);
    for (const e of before.holdout) expect(held.has(e.id)).toBe(true);
    for (const e of before.train) expect(held.has(e.id)).toBe(false);
  });

  it('depends on the seed', () => {
    expect(sideOf(splitHoldout(items(0, 200), 0.3, 'other'))).not.toEqual(sideOf(splitHoldout(items(0, 200), 0.3)));
  });

  it('leaves both sides non-empty for tiny inputs', () => {
    expect(splitHoldout(items(0, 5), 0)).toMatchObject({ train: { length: 4 }, holdout: { length: 1 } });
    expect(splitHoldout(items(0, 5), 1)).toMatchObject({ train: { length: 1 }, holdout: { length: 4 } });
    const one = splitHoldout(items(0, 1), 0.3);
    expect(one.train.length + one.holdout.length).toBe(1);
  });
});
