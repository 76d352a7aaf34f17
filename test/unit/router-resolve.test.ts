import { describe, expect, it } from 'vitest';
import { normalizeQuery } from '../../src/serving/normalize';
import type { SyntheticRoute } from '../../src/router/synthetic';
import { HashingEmbedder, syntheticManifest } from '../../src/router/synthetic';
import { containsWord, resolverFor } from '../../src/serving/resolver';

const embedder = new HashingEmbedder(64);
/** A route recognised by the masked form of a representative query. */
const route = (id: string, query: string, rest: Omit<SyntheticRoute, 'id' | 'centroid'>): SyntheticRoute => ({
  id,
  centroid: embedder.vector(normalizeQuery(query).text),
  ...rest,
});

const manifest = syntheticManifest({
  dims: 64,
  routes: [
    route('c_order', 'Where is my order 12345?', {
      tier: 'template',
      target: { template: 'Order {{id}} left our warehouse and arrives within 3 days.', script: null, candidateId: 'cand_order', version: 1 },
    }),
    route('c_email', 'Send the invoice for order 12345 to me', {
      tier: 'template',
      target: { template: 'Invoice for order {{id}} sent to {{email}}.', script: null, candidateId: 'cand_email', version: 1 },
    }),
    route('c_plan', 'What does my premium plan include', {
      tier: 'template',
      target: {
        template: 'Your {{plan}} plan includes support.',
        script: { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } }] },
        candidateId: 'cand_plan',
        version: 3,
      },
      threshold: 0.6,
    }),
    route('c_cancel', 'I want to cancel my subscription', {
      tier: 'adapter',
      target: { adapter: 'acme-cancel-v2', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', uri: 's3://b/adapters/ft_1/' },
    }),
    route('c_refund', 'How do I get a refund for my purchase', {
      tier: 'cheap',
      target: { model: 'gpt-4o-mini' },
      threshold: 0.5,
      keywords: { none: ['chargeback'], all: ['refund'] },
    }),
  ],
});
const resolve = resolverFor(manifest);
const ask = (q: string) => resolve(embedder.vector(normalizeQuery(q).text), q);

describe('resolverFor', () => {
  it('serves a template route with the slots of the query', () => {
    const r = ask('where is my order #A-77812?');
    expect(r).toMatchObject({ tier: 'template', routeId: 'c_order', reason: 'route', answer: 'Order #A-77812 left our warehouse and arrives within 3 days.' });
    expect(r.similarity).toBeCloseTo(1, 5);
    expect(ask('Where is my order 991?').answer).toBe('Order 991 left our warehouse and arrives within 3 days.');
  });

  it('runs a template route’s script', () => {
    expect(ask('what does my basic plan include')).toMatchObject({ tier: 'template', routeId: 'c_plan', answer: 'Your Basic plan includes support.' });
  });

  it('returns the adapter of an adapter route', () => {
    expect(ask('I want to cancel my subscription')).toMatchObject({
      tier: 'adapter',
      routeId: 'c_cancel',
      adapter: { adapter: 'acme-cancel-v2', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', uri: 's3://b/adapters/ft_1/' },
      reason: 'route',
    });
  });

  it('returns the model of a cheap route', () => {
    expect(ask('how do I get a refund for my purchase')).toMatchObject({ tier: 'cheap', routeId: 'c_refund', model: 'gpt-4o-mini', reason: 'route' });
  });

  it('falls back below the threshold, naming the nearest route', () => {
    const r = ask('where can I buy a new bicycle helmet');
    expect(r).toMatchObject({ tier: 'frontier', routeId: null, model: 'gpt-4o', reason: 'below threshold' });
    expect(r.nearestRouteId).toEqual(expect.any(String));
    expect(r.similarity).toBeLessThan(0.8);
  });

  it('falls back when a keyword rule fails', () => {
    const none = ask('how do I get a refund or chargeback for my purchase');
    expect(none).toMatchObject({ tier: 'frontier', routeId: null, nearestRouteId: 'c_refund', reason: 'keyword rule: excludes "chargeback"' });
    expect(none.similarity).toBeGreaterThan(0.5);
    const all = ask('how do I get money back for my purchase');
    expect(all.nearestRouteId).toBe('c_refund');
    expect(all).toMatchObject({ tier: 'frontier', routeId: null, reason: 'keyword rule: needs "refund"' });
  });

  it('falls back with the reason when the template cannot be rendered', () => {
    // The invoice template needs an email, and this query has none.
    const r = ask('Send the invoice for order 12345 to me');
    expect(r).toMatchObject({ tier: 'frontier', routeId: null, nearestRouteId: 'c_email', model: 'gpt-4o' });
    expect(r.reason).toMatch(/^render failed: .*email/);
    expect(ask('Send the invoice for order 12345 to me at ann@example.com')).toMatchObject({
      routeId: 'c_email',
      answer: 'Invoice for order 12345 sent to ann@example.com.',
    });
    // A script that cannot decide falls back too.
    const plan = ask('what does my gold plan include');
    expect(plan.nearestRouteId).toBe('c_plan');
    expect(plan.reason).toMatch(/^render failed: script variable "plan"/);
  });

  it('falls back on an empty manifest and a zero vector', () => {
    const empty = resolverFor(syntheticManifest({ dims: 64, routes: [] }));
    expect(empty(embedder.vector('anything'), 'anything')).toMatchObject({ tier: 'frontier', routeId: null, nearestRouteId: null, reason: 'no routes' });
    expect(empty(embedder.vector('anything'), 'anything').similarity).toBeNaN();
    expect(resolve(new Float32Array(64), 'x')).toMatchObject({ routeId: null, reason: 'query vector is zero' });
    expect(() => resolve(new Float32Array(3), 'x')).toThrow(/3 dims/);
  });

  it('uses the manifest fallback tier and model', () => {
    const m = syntheticManifest({ dims: 64, routes: [] });
    m.fallback = { tier: 'cheap', model: 'small-one' };
    expect(resolverFor(m)(embedder.vector('x'), 'x')).toMatchObject({ tier: 'cheap', model: 'small-one' });
  });
});

describe('containsWord', () => {
  it.each([
    ['refund my order', 'refund', true],
    ['refunds please', 'refund', false],
    ['a chargeback?', 'chargeback', true],
    ['order <id> now', '<id>', true],
    ['order <id>', 'order <id>', true],
    ['preorder', 'order', false],
    ['refund request pending', 'refund request', true],
  ])('%j contains %j: %s', (text, word, yes) => {
    expect(containsWord(text, word)).toBe(yes);
  });
});
