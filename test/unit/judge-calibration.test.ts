import { describe, expect, it } from 'vitest';
import { l2normalize } from '../../src/embeddings/types';
import { type CalibrationSample, calibratedProbability, fitCalibration } from '../../src/judge/calibration';
import { EmbeddingJudge, embeddedAnswer, judgeEmbedded } from '../../src/judge/embedding';
import { pairFeatures, slotConflicts } from '../../src/judge/features';
import { calibrationSamples, classifyEdit, type LoggedAnswer, withAgreeingEdits } from '../../src/judge/pairs';
import { rng } from '../support/rng';

/** Feature vectors of a synthetic tenant: agreeing pairs are more similar on every feature, with overlap. */
function synthetic(seed: number, n: number): CalibrationSample[] {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const clip = (x: number) => Math.min(1, Math.max(0, x));
  return Array.from({ length: n }, (_, i) => {
    const y = (i % 3 === 0 ? 0 : 1) as 0 | 1;
    const m = y ? 0.75 : 0.45;
    return { x: [clip(m + 0.12 * gauss()), clip(m - 0.2 + 0.15 * gauss()), clip(0.8 + 0.1 * gauss()), y ? 1 : next() < 0.5 ? 1 : 0], y };
  });
}

describe('fitCalibration', () => {
  const cal = fitCalibration(synthetic(1, 3000));

  it('ranks agreeing pairs above disagreeing ones and is monotone in each feature (non-negative weights)', () => {
    expect(cal.auc).toBeGreaterThan(0.9);
    expect(cal.weights.every((w) => w >= 0)).toBe(true);
    expect(cal.weights[0]).toBeGreaterThan(0);
    let last = 0;
    for (let c = 0; c <= 1; c += 0.05) {
      const p = calibratedProbability(cal, [c, 0.4, 0.8, 1]);
      expect(p).toBeGreaterThanOrEqual(last);
      last = p;
    }
    expect(calibratedProbability(cal, [0.95, 0.8, 0.9, 1])).toBeGreaterThan(0.95);
    expect(calibratedProbability(cal, [0.2, 0.0, 0.8, 0])).toBeLessThan(0.05);
  });

  it('reads as a probability on fresh pairs (at an even prior): agreement rate per band matches the mean score', () => {
    const fresh = synthetic(2, 6000);
    // Rebalance to an even prior, the prior the calibration reads at: keep every negative, as many positives.
    const neg = fresh.filter((s) => s.y === 0);
    const pos = fresh.filter((s) => s.y === 1).slice(0, neg.length);
    const scored = [...neg, ...pos].map((s) => ({ p: calibratedProbability(cal, s.x), y: s.y }));
    for (const [lo, hi] of [
      [0, 0.2],
      [0.2, 0.8],
      [0.8, 1.01],
    ] as const) {
      const band = scored.filter((s) => s.p >= lo && s.p < hi);
      expect(band.length).toBeGreaterThan(100);
      const meanP = band.reduce((a, s) => a + s.p, 0) / band.length;
      const rate = band.reduce((a, s) => a + s.y, 0) / band.length;
      expect(Math.abs(meanP - rate)).toBeLessThan(0.06);
    }
  });

  it('refuses a tenant with one kind of pair only, saying what is missing', () => {
    expect(() => fitCalibration(synthetic(3, 30).filter((s) => s.y === 1))).toThrow(/0 disagreeing/);
  });

  it('is named by its content: the same pairs give the same id, other pairs another', () => {
    expect(fitCalibration(synthetic(1, 3000)).id).toBe(cal.id);
    expect(fitCalibration(synthetic(4, 3000)).id).not.toBe(cal.id);
  });
});

describe('slots compare exactly', () => {
  it('a different amount, id or date is a conflict; a value only one side mentions is not', () => {
    expect(slotConflicts('We refunded $20 to your card.', 'We refunded $200 to your card.')).toHaveLength(1);
    expect(slotConflicts('Order 12345678 ships on 2026-03-01.', 'Order 12345678 ships on 2026-03-04.')[0]!.type).toBe('date');
    expect(slotConflicts('Order 12345678 has shipped.', 'Your order has shipped.')).toEqual([]);
    expect(slotConflicts('Steps 1, 2 and 3 below.', 'Steps 1 and 2 below.')).toEqual([]);
  });

  it('a slot conflict disagrees whatever the cosine; otherwise the calibrated score decides', () => {
    const cal = fitCalibration(synthetic(1, 2000));
    const v = l2normalize(new Float32Array([1, 2, 3]));
    const a = embeddedAnswer('Your refund of $20 is on its way.', v);
    const b = embeddedAnswer('Your refund of $25 is on its way.', v);
    const j = judgeEmbedded(cal, a, b);
    expect(j).toMatchObject({ pAgree: 0, verdict: 'disagree', evidence: { judge: 'slots' } });
    const same = judgeEmbedded(cal, a, embeddedAnswer('Your refund of $20 is on the way.', v));
    expect(same.verdict).toBe('agree');
    expect(same.evidence).toMatchObject({ judge: 'embedding', calibration: cal.id, cosine: expect.closeTo(1, 6) });
  });
});

describe('calibration pairs from the tenant log', () => {
  const vec = (...x: number[]) => l2normalize(new Float32Array(x));
  const ans = (cluster: string, text: string, v: Float32Array): LoggedAnswer => ({ cluster, text, vec: v });

  it('edits: rewordings agree, changed values and rewrites correct', () => {
    expect(classifyEdit('You can cancel your order from the Orders page.', 'You can cancel the order from the Orders page.')).toBe('agrees');
    expect(classifyEdit('Your order 12345678 was refunded.', 'Your order 87654321 was refunded.')).toBe('corrects');
    expect(classifyEdit('You can cancel your order from the Orders page.', 'Sorry, cancellations are not possible after shipping.')).toBe('corrects');
  });

  it('same-cluster pairs agree, neighbour-cluster pairs disagree, clusters sharing an answer give no negatives', () => {
    const accepted = [
      ans('a', 'Cancel it from the Orders page.', vec(1, 0.1, 0)),
      ans('a', 'Open Orders and choose Cancel.', vec(1, 0.2, 0)),
      // b shares an answer with a: one intent split in two clusters.
      ans('b', 'Open Orders and choose Cancel, please.', vec(1, 0.25, 0)),
      ans('b', 'Cancel it from the  orders page.', vec(1, 0.1, 0)),
      ans('c', 'Track it under Order Details.', vec(0, 1, 0.1)),
      ans('c', 'See Order Details for tracking.', vec(0.1, 1, 0.1)),
    ];
    const neighbours = (c: string) => ['a', 'b', 'c'].filter((o) => o !== c);
    const s = calibrationSamples({
      accepted,
      neighbours,
      edits: [
        { original: ans('a', 'Cancel it from the Orders page.', vec(1, 0.1, 0)), edited: ans('a', 'Cancel it from the Orders page, please.', vec(1, 0.12, 0)) },
      ],
      rejected: [ans('a', 'We cannot help with that.', vec(0, 0, 1))],
      pairsPerCluster: 20,
    });
    const by = (src: string) => s.filter((x) => x.source === src);
    expect(by('same-cluster').every((x) => x.y === 1)).toBe(true);
    expect(by('other-cluster').length).toBeGreaterThan(0);
    // Every negative pairs an order-cancelling answer (a, b) with a tracking one (c): cosine well below a-b pairs.
    expect(by('other-cluster').length).toBe(3 * 20);
    expect(by('other-cluster').every((x) => x.y === 0 && x.x[0]! < 0.5)).toBe(true);
    expect(by('agreeing-edit')).toHaveLength(1);
    expect(by('rejected')).toMatchObject([{ y: 0 }]);
    // Deterministic: the same log yields the same pairs.
    expect(calibrationSamples({ accepted, neighbours, pairsPerCluster: 20 })).toEqual(calibrationSamples({ accepted, neighbours, pairsPerCluster: 20 }));
  });
});

describe('EmbeddingJudge', () => {
  it('embeds each distinct text once and judges every pair in order', async () => {
    const cal = fitCalibration(synthetic(1, 2000));
    const calls: string[][] = [];
    const table: Record<string, number[]> = { A: [1, 0, 0], 'A.': [0.99, 0.05, 0], B: [0, 1, 0] };
    const judge = new EmbeddingJudge(async (texts) => {
      calls.push(texts);
      return texts.map((t) => l2normalize(new Float32Array(table[t]!)));
    }, cal);
    const out = await judge.judge([
      { query: 'q', candidate: 'A', reference: 'A.' },
      { query: 'q', candidate: 'A', reference: 'B' },
    ]);
    expect(calls).toEqual([['A', 'A.', 'B']]);
    expect(out.map((j) => j.verdict)).toEqual(['agree', 'disagree']);
    expect(out[0]!.pAgree).toBeGreaterThan(out[1]!.pAgree);
    expect(judge.id).toBe(`embedding:${cal.id}`);
    expect(pairFeatures(1, 'A', 'A.').tokenJaccard).toBe(1);
  });
});

describe('identical answers', () => {
  it('agree with P = 1 without consulting the calibration (case, spacing and final stop aside)', () => {
    const cal = fitCalibration(synthetic(1, 500));
    const v = l2normalize(new Float32Array([1, 0, 0]));
    const w = l2normalize(new Float32Array([0, 1, 0]));
    expect(judgeEmbedded(cal, embeddedAnswer('Handled as card arrival.', v), embeddedAnswer('handled as  card arrival', w))).toEqual({
      pAgree: 1,
      verdict: 'agree',
      evidence: { judge: 'identical' },
    });
    expect(judgeEmbedded(cal, embeddedAnswer('Handled as card arrival.', v), embeddedAnswer('Handled as card delivery.', v)).evidence.judge).toBe('embedding');
  });
});

describe('bigram containment', () => {
  it('is 1 when one answer says all the other says in order (an added greeting), lower for shared boilerplate', () => {
    const base = 'You can download your invoice from the Order History section of your account.';
    expect(pairFeatures(0.9, `Certainly! ${base}`, base).bigramContainment).toBe(1);
    const other = pairFeatures(0.9, base, 'You can change your address from the Account section of your profile.');
    expect(other.bigramContainment).toBeLessThan(0.5);
  });
});

describe('withAgreeingEdits', () => {
  it('makes a rewording edit agree in both orders and leaves corrections to the judge', () => {
    const judge = withAgreeingEdits(
      () => 0.3,
      [
        { original: 'Please contact support to cancel your order.', edited: 'Kindly contact support to cancel your order.' },
        { original: 'Your refund of $20 is on its way.', edited: 'Your refund of $200 is on its way.' },
      ],
    );
    expect(judge('Please contact support to cancel your order.', 'Kindly contact support to cancel your order.')).toBe(1);
    expect(judge('Kindly contact support to cancel your order.', 'Please contact support to cancel your order.')).toBe(1);
    expect(judge('Your refund of $20 is on its way.', 'Your refund of $200 is on its way.')).toBe(0.3);
    expect(judge('Please contact support to cancel your order.', 'Something else.')).toBe(0.3);
  });
});
