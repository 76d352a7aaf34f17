import { describe, expect, it } from 'vitest';
import { DEFAULT_GATE, type GatePolicy, type Prediction, gate, isClassificationLike } from '../../src/distill/gate';

const POLICY: GatePolicy = { minMeanSimilarity: 0.8, minGainOverBase: 0.05, minMatchRate: 0.9, minExamples: 10 };

/** Free-text eval: every reference distinct. */
function freeText(n: number, answer: (i: number) => string = (i) => `Your refund ${i} arrives in ${i + 2} business days.`): Prediction[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, reference: `Your refund ${i} arrives in ${i + 2} business days.`, prediction: answer(i) }));
}

/** Classification-like eval: `labels` cycled over n examples. */
function labelled(n: number, labels: string[], answer: (ref: string, i: number) => string): Prediction[] {
  return Array.from({ length: n }, (_, i) => {
    const reference = labels[i % labels.length]!;
    return { index: i, reference, prediction: answer(reference, i) };
  });
}

const fill = (n: number, v: number | ((i: number) => number)) => Array.from({ length: n }, (_, i) => (typeof v === 'number' ? v : v(i)));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('gate', () => {
  it('passes a student that is good and clearly better than the base model', () => {
    const n = 20;
    const student = freeText(n);
    const base = freeText(n, (i) => `I cannot help with refund ${i}.`);
    const studentSim = fill(n, (i) => 0.85 + (i % 5) * 0.02); // mean 0.89
    const baseSim = fill(n, 0.6);
    const r = gate(student, base, studentSim, baseSim, POLICY);
    expect(r.verdict).toBe('pass');
    expect(r.reasons).toEqual([]);
    expect(r.classificationLike).toBe(false);
    expect(r.student.examples).toBe(n);
    expect(r.student.meanSimilarity).toBeCloseTo(mean(studentSim), 12);
    expect(r.base.meanSimilarity).toBeCloseTo(0.6, 12);
    expect(r.student.exactRate).toBe(1);
    expect(r.base.exactRate).toBe(0);
    expect(r.policy).toEqual(POLICY);
  });

  it('uses DEFAULT_GATE when no policy is given', () => {
    const n = 12;
    const r = gate(freeText(n), freeText(n), fill(n, 0.95), fill(n, 0.95));
    expect(r.policy).toEqual(DEFAULT_GATE);
    expect(r.verdict).toBe('fail');
    expect(r.reasons).toEqual([`gain over the base model 0.000 < ${DEFAULT_GATE.minGainOverBase}`]);
  });

  it('fails, naming the gain, a good student that is not clearly better than the base model', () => {
    const n = 20;
    const student = freeText(n);
    const base = freeText(n, (i) => `Refund ${i}: about ${i + 2} business days.`);
    const r = gate(student, base, fill(n, 0.9), fill(n, 0.88), POLICY);
    expect(r.verdict).toBe('fail');
    expect(r.reasons).toHaveLength(1);
    expect(r.reasons[0]).toMatch(/^gain over the base model 0\.020 < 0\.05$/);
  });

  it('fails a student worse than the base model with a negative gain', () => {
    const n = 15;
    const r = gate(freeText(n), freeText(n), fill(n, 0.85), fill(n, 0.9), POLICY);
    expect(r.verdict).toBe('fail');
    expect(r.reasons).toEqual(['gain over the base model -0.050 < 0.05']);
  });

  describe('free text (many distinct references)', () => {
    it('mean similarity decides, not exact match', () => {
      const n = 20;
      // nothing matches exactly, but every answer means the same: pass
      const paraphrased = freeText(n, (i) => `Refund number ${i} should reach you within ${i + 2} working days.`);
      const ok = gate(
        paraphrased,
        freeText(n, () => 'no idea'),
        fill(n, 0.86),
        fill(n, 0.3),
        POLICY,
      );
      expect(ok.classificationLike).toBe(false);
      expect(ok.student.normalisedRate).toBe(0);
      expect(ok.verdict).toBe('pass');

      // everything matches exactly except that similarity says otherwise: similarity rules
      const low = gate(
        freeText(n),
        freeText(n, () => 'no idea'),
        fill(n, 0.7),
        fill(n, 0.3),
        POLICY,
      );
      expect(low.student.normalisedRate).toBe(1);
      expect(low.verdict).toBe('fail');
      expect(low.reasons).toEqual(['mean similarity 0.700 < 0.8']);
    });
  });

  describe('classification-like (few distinct references, each repeated)', () => {
    const LABELS = ['card_lost', 'refund_status', 'exchange_rate'];

    it('is detected, and the normalised match rate decides even when mean similarity is below the free-text bar', () => {
      const n = 30;
      // right label for 28 of 30, with case/whitespace/trailing-punctuation noise that normalisation forgives
      const student = labelled(n, LABELS, (ref, i) => (i < 2 ? 'card_block' : i % 2 ? ` ${ref.toUpperCase()}.` : ref));
      const base = labelled(n, LABELS, () => 'I think this is about a card.');
      // labels embed poorly: similarity of a right label may well be low
      const r = gate(student, base, fill(n, 0.7), fill(n, 0.4), POLICY);
      expect(r.classificationLike).toBe(true);
      expect(r.student.normalisedRate).toBeCloseTo(28 / 30, 12);
      expect(r.student.exactRate).toBeCloseTo(14 / 30, 12);
      expect(r.verdict).toBe('pass');
      expect(r.reasons).toEqual([]);
    });

    it('fails with the match rate as reason when too few labels are right, however high the similarity', () => {
      const n = 20;
      const student = labelled(n, LABELS, (ref, i) => (i % 4 === 0 ? 'something else' : ref)); // 15/20 right
      const base = labelled(n, LABELS, () => 'no idea');
      const r = gate(student, base, fill(n, 0.95), fill(n, 0.5), POLICY);
      expect(r.classificationLike).toBe(true);
      expect(r.verdict).toBe('fail');
      expect(r.reasons).toEqual(['match rate 0.750 < 0.9']);
    });

    it('measures the gain over the base model in match rate: a base model that already answers right leaves no gain', () => {
      const n = 20;
      const student = labelled(n, LABELS, (ref) => ref);
      const base = labelled(n, LABELS, (ref) => ` ${ref}.`); // right too (normalised), worded a little differently
      // in cosine the student looks far better (0.9 vs 0.5), but the labels are what count here
      const r = gate(student, base, fill(n, 0.9), fill(n, 0.5), POLICY);
      expect(r.classificationLike).toBe(true);
      expect(r.verdict).toBe('fail');
      expect(r.reasons).toEqual(['match-rate gain over the base model 0.000 < 0.05']);
      // and a base model that gets a quarter wrong leaves a clear gain
      const weakBase = labelled(n, LABELS, (ref, i) => (i % 4 === 0 ? 'no idea' : ref));
      expect(gate(student, weakBase, fill(n, 0.9), fill(n, 0.9), POLICY).verdict).toBe('pass');
    });

    it('two labels over ten examples is classification-like; many distinct labels is not', () => {
      const two = labelled(10, ['yes', 'no'], (r) => r);
      expect(gate(two, two, fill(10, 0.9), fill(10, 0.1), POLICY).classificationLike).toBe(true);
      // 20 examples with 5 labels (> 20/5 = 4 distinct): free text
      const five = labelled(20, ['a', 'b', 'c', 'd', 'e'], (r) => r);
      expect(gate(five, five, fill(20, 0.9), fill(20, 0.1), POLICY).classificationLike).toBe(false);
      // the same references differing only by case and punctuation count as one label
      const noisy = labelled(20, ['Yes', 'yes.', 'YES', 'No', 'no!'], (r) => r);
      expect(gate(noisy, noisy, fill(20, 0.9), fill(20, 0.1), POLICY).classificationLike).toBe(true);
    });
  });

  it('fails on too few eval examples, even when every answer is perfect', () => {
    const n = 5;
    const r = gate(
      labelled(n, ['a'], (x) => x),
      labelled(n, ['a'], () => 'b'),
      fill(n, 1),
      fill(n, 0),
      POLICY,
    );
    expect(r.verdict).toBe('fail');
    expect(r.reasons).toEqual(['5 eval examples < 10']);
    // under ten examples nothing is called classification-like
    expect(r.classificationLike).toBe(false);
  });

  it('fails on no eval examples at all', () => {
    const r = gate([], [], [], [], POLICY);
    expect(r.verdict).toBe('fail');
    expect(r.reasons[0]).toBe('0 eval examples < 10');
    expect(r.student).toEqual({ examples: 0, meanSimilarity: 0, p10Similarity: 0, exactRate: 0, normalisedRate: 0 });
    expect(r.examples).toEqual([]);
  });

  it('throws when a similarity array does not match its predictions', () => {
    const p = freeText(10);
    expect(() => gate(p, p, fill(9, 0.9), fill(10, 0.5), POLICY)).toThrow('one similarity per prediction');
    expect(() => gate(p, p, fill(10, 0.9), fill(11, 0.5), POLICY)).toThrow('one similarity per prediction');
  });

  it('lists the worst student answers first (at most ten), each with the base answer for the same example', () => {
    const n = 25;
    const student = freeText(n, (i) => `student answer ${i}`);
    // base predictions arrive in another order than the student's: matched by index, not position
    const base = freeText(n, (i) => `base answer ${i}`).reverse();
    const studentSim = fill(n, (i) => 0.5 + ((i * 7) % n) / 50); // a permutation of 0.5 .. 0.98
    const baseSim = base.map((p) => p.index / 100);
    const r = gate(student, base, studentSim, baseSim, POLICY);

    expect(r.examples).toHaveLength(10);
    const sims = r.examples.map((e) => e.similarity);
    expect(sims).toEqual([...sims].sort((a, b) => a - b));
    expect(sims).toEqual([...studentSim].sort((a, b) => a - b).slice(0, 10));
    for (const e of r.examples) {
      expect(e.prediction).toBe(`student answer ${e.index}`);
      expect(e.basePrediction).toBe(`base answer ${e.index}`);
      expect(e.baseSimilarity).toBeCloseTo(e.index / 100, 12);
      expect(e.similarity).toBe(studentSim[e.index]);
      expect(e.reference).toBe(`Your refund ${e.index} arrives in ${e.index + 2} business days.`);
    }
    expect(r.examples[0]).toMatchObject({ index: 0, similarity: 0.5, basePrediction: 'base answer 0' });
  });

  it('reports the 10th-percentile similarity', () => {
    const n = 21;
    const sims = fill(n, (i) => (n - 1 - i) / 20); // 1.0 down to 0.0
    const r = gate(freeText(n), freeText(n), sims, fill(n, 0), POLICY);
    expect(r.student.p10Similarity).toBeCloseTo(0.1, 12); // sorted[floor(0.1 * 20)] = sorted[2]
  });

  it('with a judge, judged agreement decides free text (not the cosine), and the gain is measured on it', () => {
    const n = 20;
    const student = freeText(n, (i) => `Refund ${i} will be with you within ${i + 2} working days.`);
    const base = freeText(n, (i) => `I cannot help with refund ${i}.`);
    const lowSim = fill(n, 0.5); // below minMeanSimilarity: without a judge this student fails
    expect(gate(student, base, lowSim, fill(n, 0.4), POLICY).verdict).toBe('fail');
    const judged = { judge: 'embedding:abc', student: fill(n, (i) => (i < 18 ? 0.95 : 0.3)), base: fill(n, 0.1) };
    const r = gate(student, base, lowSim, fill(n, 0.4), { ...POLICY, minAgreement: 0.85 }, judged);
    expect(r.verdict).toBe('pass');
    expect(r.judge).toBe('embedding:abc');
    expect(r.student.agreement).toBeCloseTo((18 * 0.95 + 2 * 0.3) / 20, 12);
    expect(r.student.agreeShare).toBeCloseTo(0.9, 12);
    expect(r.base.agreement).toBeCloseTo(0.1, 12);

    const weak = gate(student, base, fill(n, 0.99), fill(n, 0.4), { ...POLICY, minAgreement: 0.85 }, { ...judged, student: fill(n, 0.8) });
    expect(weak.verdict).toBe('fail');
    expect(weak.reasons).toEqual(['judged agreement 0.800 < 0.85']);
    const noGain = gate(student, base, lowSim, lowSim, { ...POLICY, minAgreement: 0.85 }, { ...judged, base: judged.student });
    expect(noGain.reasons).toEqual([`agreement gain over the base model 0.000 < ${POLICY.minGainOverBase}`]);
  });

  it('exact match only where the accepted answers really are a few fixed short strings', () => {
    expect(isClassificationLike(Array.from({ length: 20 }, (_, i) => ['refund', 'cancel', 'track'][i % 3]!))).toBe(true);
    // a canned paragraph repeated is free text: judged, not string-matched
    const canned = 'Thank you for reaching out. To cancel your order, open Orders, pick the order and press Cancel; the refund follows in 5 days.';
    expect(isClassificationLike(Array.from({ length: 20 }, () => canned))).toBe(false);
    expect(isClassificationLike(['a', 'b', 'a'])).toBe(false); // too few examples to tell
    expect(isClassificationLike(Array.from({ length: 100 }, (_, i) => `label-${i % 20}`))).toBe(false); // 20 distinct: more than a few
  });
});
