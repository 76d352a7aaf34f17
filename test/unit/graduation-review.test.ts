import { describe, expect, it } from 'vitest';
import { validateDecision } from '../../src/graduation/decision';
import { answerFitWarnings } from '../../src/graduation/fit';
import { nearestCentroid, neighbourhood } from '../../src/graduation/routing';

describe('answerFitWarnings', () => {
  const SUBSCRIBE = 'To subscribe to our newsletter, simply enter your email address in the subscription box on our homepage.';

  it('flags a "subscribe" answer for queries mostly asking to unsubscribe or cancel', () => {
    const queries = [
      'how do I unsubscribe from the newsletter',
      'cancel my newsletter subscription',
      'stop sending me emails',
      'I want to opt out of the newsletter',
      'sign me up for the newsletter',
    ];
    const warnings = answerFitWarnings(SUBSCRIBE, queries);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^80% of its queries ask to unsubscribe \/ cancel \/ stop \(e\.g\. "how do I unsubscribe from the newsletter"\)/);
  });

  it('does not flag it for queries asking to subscribe', () => {
    const queries = ['how do I subscribe to the newsletter', 'sign me up for the newsletter', 'I want your newsletter', 'Subscribe me please'];
    expect(answerFitWarnings(SUBSCRIBE, queries)).toEqual([]);
  });

  it('does not flag an answer that also covers the undoing action', () => {
    const both = `${SUBSCRIBE} To unsubscribe, click the link at the bottom of any newsletter.`;
    expect(answerFitWarnings(both, ['how do I unsubscribe', 'cancel my newsletter', 'unsubscribe me'])).toEqual([]);
  });

  it('needs at least minShare of the queries to ask for the undoing action', () => {
    const queries = ['unsubscribe me', ...Array.from({ length: 9 }, (_, i) => `subscribe me to list ${i}`)];
    expect(answerFitWarnings(SUBSCRIBE, queries)).toEqual([]); // 10% < 20%
    expect(answerFitWarnings(SUBSCRIBE, queries, { minShare: 0.1 })).toHaveLength(1);
    expect(answerFitWarnings(SUBSCRIBE, [])).toEqual([]);
  });

  it('flags the other opposite pairs too (delete vs create)', () => {
    const create = "To create an account, click 'Sign Up' and follow the prompts.";
    expect(answerFitWarnings(create, ['delete my account', 'how to close my account', 'remove my profile'])[0]).toMatch(/delete \/ remove \/ close/);
    expect(answerFitWarnings(create, ['how do I make an account', 'register please'])).toEqual([]);
  });
});

describe('validateDecision', () => {
  it.each([
    ['a non-object', 'approve', /^decision:/],
    ['an unknown action', { action: 'approved', reviewer: 'ann' }, /^action: .*"approved"/],
    ['a missing action', { reviewer: 'ann' }, /^action:/],
    ['a missing reviewer', { action: 'approve' }, /^reviewer:/],
    ['a blank reviewer', { action: 'approve', reviewer: '   ' }, /^reviewer:/],
    ['an overlong reviewer', { action: 'approve', reviewer: 'x'.repeat(201) }, /^reviewer: at most 200/],
    ['a non-text comment', { action: 'approve', reviewer: 'ann', comment: 42 }, /^comment:/],
    ['a reject without comment', { action: 'reject', reviewer: 'ann' }, /^comment: say why/],
    ['a reject with a blank comment', { action: 'reject', reviewer: 'ann', comment: '  \n ' }, /^comment: say why/],
    ['approve_with_edits without template', { action: 'approve_with_edits', reviewer: 'ann' }, /^template: approve_with_edits needs/],
    ['approve_with_edits with a blank template', { action: 'approve_with_edits', reviewer: 'ann', template: '  ' }, /^template:/],
    ['approve_with_edits with an overlong template', { action: 'approve_with_edits', reviewer: 'ann', template: 'x'.repeat(20_001) }, /^template: at most/],
    ['a template on plain approve', { action: 'approve', reviewer: 'ann', template: 'Hi' }, /^template: only approve_with_edits/],
    ['a script on plain approve', { action: 'approve', reviewer: 'ann', script: { kind: 'vocabulary' } }, /^template: only approve_with_edits/],
    ['a template on reject', { action: 'reject', reviewer: 'ann', comment: 'no', template: 'Hi' }, /^template: only approve_with_edits/],
  ])('rejects %s', (_, input, message) => {
    expect(() => validateDecision(input)).toThrow(message);
  });

  it('accepts a plain approve, trimming the reviewer and dropping a blank comment', () => {
    expect(validateDecision({ action: 'approve', reviewer: '  ann@example.com ', comment: '  ' })).toEqual({ action: 'approve', reviewer: 'ann@example.com' });
  });

  it('accepts a reject with a trimmed comment', () => {
    expect(validateDecision({ action: 'reject', reviewer: 'bob', comment: '  wrong for cancellations \n' })).toEqual({
      action: 'reject',
      reviewer: 'bob',
      comment: 'wrong for cancellations',
    });
  });

  it('accepts approve_with_edits, keeping the template as written and the script', () => {
    const script = { kind: 'vocabulary', variables: [] };
    expect(validateDecision({ action: 'approve_with_edits', reviewer: 'cy', template: ' Order {{id}} ships. ', script, comment: 'typo' })).toEqual({
      action: 'approve_with_edits',
      reviewer: 'cy',
      comment: 'typo',
      template: ' Order {{id}} ships. ',
      script,
    });
    expect(validateDecision({ action: 'approve_with_edits', reviewer: 'cy', template: 'x' })).not.toHaveProperty('script');
  });
});

describe('routing', () => {
  const norm = (v: number[]) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  // Three clusters in 3-d: a and b close together, c apart.
  const a = norm([1, 0, 0]);
  const b = norm([0.9, 0.1, 0]);
  const c = norm([0.1, 0.2, 1]);
  const centroids = Float32Array.from([...a, ...b, ...c]);

  it('nearestCentroid returns the most similar centroid and its cosine', () => {
    const q = norm([0.95, 0.05, 0.1]);
    const hit = nearestCentroid(q, centroids, 3);
    const cos = (x: number[]) => x.reduce((s, xi, i) => s + xi * q[i]!, 0);
    const best = [a, b, c].map(cos).reduce((m, s, i, all) => (s > all[m]! ? i : m), 0);
    expect(hit.index).toBe(best);
    expect(hit.similarity).toBeCloseTo(cos([a, b, c][best]!), 5);
    expect(nearestCentroid(norm([0, 0.1, 1]), centroids, 3).index).toBe(2);
    expect(nearestCentroid(q, new Float32Array(0), 3)).toEqual({ index: -1, similarity: -Infinity });
  });

  it('neighbourhood lists each centroid’s most similar others, never itself', () => {
    expect(neighbourhood(centroids, 3, 1)).toEqual([[1], [0], [1]]);
    const all = neighbourhood(centroids, 3, 5);
    expect(all[0]).toEqual([1, 2]);
    expect(all[2]).toEqual([1, 0]);
  });
});
