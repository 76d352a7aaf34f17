import { describe, expect, it } from 'vitest';
import { describeClusters, tokenize } from '../../src/clustering/describe';

describe('describeClusters', () => {
  const texts = [
    'how do i cancel my order <id>',
    'cancel order please',
    'i want to cancel the order',
    'where is my refund',
    'refund status for <id>',
    'has my refund arrived',
    'lonely query',
  ];
  const weights = [10, 3, 2, 7, 4, 1, 1];
  const assignment = Int32Array.from([0, 0, 0, 1, 1, 1, -1]);
  const similarity = [0.9, 0.8, 0.85, 0.9, 0.8, 0.7, 0.2];
  const [cancel, refund] = describeClusters(texts, weights, assignment, similarity, 2);

  it('keywords are the terms that distinguish a cluster, not placeholders or stopwords', () => {
    expect(cancel!.keywords.slice(0, 2).sort()).toEqual(['cancel', 'order']);
    expect(refund!.keywords[0]).toBe('refund');
    for (const d of [cancel!, refund!]) for (const k of d.keywords) expect(k).not.toMatch(/^<|^(my|the|i)$/);
  });

  it('representatives favour frequent queries close to the centroid; the label is the top one', () => {
    expect(cancel!.representatives[0]).toEqual({ text: 'how do i cancel my order <id>', count: 10 });
    expect(refund!.label).toBe('where is my refund');
    expect(cancel!.representatives).toHaveLength(3);
  });

  it('noise queries describe nothing', () => {
    expect([cancel, refund].flatMap((d) => d!.representatives.map((r) => r.text))).not.toContain('lonely query');
  });

  it('tokenize keeps words and numbers, drops stopwords and placeholders', () => {
    expect(tokenize("I can't find my card's PIN <number> 2FA")).toEqual(['find', "card's", 'pin', '2fa']);
  });
});
