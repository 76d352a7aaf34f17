import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { renderAnswer } from '../../src/serving/render';
import { DEFAULT_BUDGET, type ErrorBudget } from '../../src/promotion/budget';
import {
  type HeldOutExample,
  type JudgedExample,
  type JudgedInput,
  answerTexts,
  formsTemplate,
  judgedGraduation,
  startTolerance,
} from '../../src/promotion/judged';
import { walkStart } from '../../src/promotion/admission';

/**
 * Judged graduation on a synthetic tenant whose answers are embedded as hashed bags of words: paraphrases share most
 * words (high cosine), different intents share few. Queries are not embedded here: each held-out query is routed to
 * its own cluster at a similarity drawn per query, as the nearest-centroid router would report it.
 */
const DIMS = 128;
function embed(text: string): Float32Array {
  const v = new Float32Array(DIMS);
  for (const w of text.toLowerCase().match(/[a-z]+|\{\{[a-z_0-9]+\}\}/g) ?? []) v[createHash('md5').update(w).digest().readUInt16BE(0) % DIMS]! += 1;
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}
const unit = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;

interface Intent {
  cluster: string;
  /** The answer for the i-th interaction, and the query's slots. */
  answer: (i: number) => { answer: string; slots: Record<string, string>; editedFrom?: string };
}

const PARAPHRASES = [
  'You can cancel your order from the Orders page in your account settings at any time before it ships.',
  'You can cancel your order from the Orders page of your account settings any time before it ships.',
  'Cancel your order at any time before it ships, from the Orders page in your account settings.',
];
const intents: Intent[] = [
  { cluster: 'refund', answer: () => ({ answer: 'Refunds reach your card within five business days after we receive the returned item.', slots: {} }) },
  {
    cluster: 'cancel',
    answer: (i) =>
      i % 20 === 7
        ? // A user's rewording of the teacher's answer: an edit that agrees.
          { answer: PARAPHRASES[0]!.replace('at any time', 'whenever you like'), slots: {}, editedFrom: PARAPHRASES[0]! }
        : { answer: PARAPHRASES[i % 3]!, slots: {} },
  },
  {
    cluster: 'track-id',
    answer: (i) => ({ answer: `Order ${1000 + i} ships tomorrow morning by express courier to your address.`, slots: { id: String(1000 + i) } }),
  },
  { cluster: 'track', answer: () => ({ answer: 'Your order ships tomorrow morning by express courier to your address.', slots: {} }) },
  {
    cluster: 'mixed',
    answer: (i) => ({
      answer: i % 2 ? 'Our stores open at nine in the morning on weekdays.' : 'Gift cards cannot be exchanged for cash or credit.',
      slots: {},
    }),
  },
];

function tenant(perCluster: number, budget: ErrorBudget): { input: JudgedInput; vectors: Map<string, Float32Array> } {
  const train: JudgedExample[] = [];
  const heldOut: HeldOutExample[] = [];
  let id = 0;
  for (const it of intents) {
    for (let i = 0; i < perCluster; i++) {
      const a = it.answer(i);
      const x: JudgedExample = { id: ++id, clusterId: it.cluster, query: `query ${id}`, ...a };
      if (unit(`held:${id}`) < 0.4) heldOut.push({ ...x, routedTo: it.cluster, similarity: 0.75 + 0.2 * unit(`sim:${id}`) });
      else train.push(x);
    }
  }
  const clusters = intents.map((it) => ({
    clusterId: it.cluster,
    memberSimilarities: train.filter((x) => x.clusterId === it.cluster).map((x) => 0.75 + 0.2 * unit(`sim:${x.id}`)),
    neighbours: intents.filter((o) => o !== it).map((o) => o.cluster),
  }));
  const input: JudgedInput = { clusters, train, heldOut, budget };
  return { input, vectors: new Map(answerTexts(input).map((t) => [t, embed(t)])) };
}

const BUDGET_5: ErrorBudget = { ...DEFAULT_BUDGET, maxErrorRate: 0.05 };

describe('judgedGraduation', () => {
  const { input, vectors } = tenant(200, BUDGET_5);
  const r = judgedGraduation(input, vectors);
  const of = (cluster: string) => r.candidates.find((c) => c.clusterIds.includes(cluster))!;

  it('calibrates the judge on the tenant’s own pairs: same-cluster answers agree, neighbours’ do not', () => {
    expect(r.calibration.auc).toBeGreaterThan(0.95);
    expect(r.calibration.counts.positives).toBeGreaterThan(0);
    expect(r.calibration.counts.negatives).toBeGreaterThan(0);
  });

  it('a teacher who words one answer three ways (and a user who rewords it) gives one candidate: a canonical accepted answer', () => {
    const c = of('cancel');
    expect(c.passed).toBe(true);
    expect(PARAPHRASES).toContain(c.template);
    expect(c.wrong).toBe(0);
  });

  it('pools the slotted and the constant form of one intent into one candidate; the query’s slots choose the form', () => {
    const c = of('track-id');
    expect(c.clusterIds.sort()).toEqual(['track', 'track-id']);
    expect(c.forms.map((f) => f.slots)).toEqual([['id'], []]);
    expect(renderAnswer(c.template, { query: '', slots: { id: '4242' } })).toBe('Order 4242 ships tomorrow morning by express courier to your address.');
    expect(renderAnswer(c.template, { query: '', slots: {} })).toBe('Your order ships tomorrow morning by express courier to your address.');
    expect(c.passed).toBe(true);
  });

  it('refuses a cluster whose answers do not agree in meaning, naming why', () => {
    expect(r.clusters.find((x) => x.clusterId === 'mixed')!.reason).toMatch(/do not agree in meaning/);
    expect(r.candidates.some((c) => c.clusterIds.includes('mixed'))).toBe(false);
  });

  it('admits routes under the one budget with a threshold each from the route’s own grid, and says so in evidence', () => {
    const routes = r.candidates.flatMap((c) => c.routes);
    expect(routes.map((x) => x.clusterId).sort()).toEqual(['cancel', 'refund', 'track', 'track-id']);
    for (const x of routes) {
      const own = input.clusters.find((c) => c.clusterId === x.clusterId)!.memberSimilarities;
      expect(x.threshold).toBeLessThanOrEqual(Math.max(...own));
      expect(x.threshold).toBeGreaterThan(0.5);
    }
    expect(r.admission.pooled.ok).toBe(true);
    expect(r.admission.pooled.bound).toBeLessThanOrEqual(0.05);
  });

  it('the default 1% budget needs more evidence than this tenant has: nothing is admitted, and the reason says how much', () => {
    const strict = tenant(200, DEFAULT_BUDGET);
    const s = judgedGraduation(strict.input, strict.vectors);
    expect(s.candidates.every((c) => !c.passed)).toBe(true);
    expect(s.admission.reason).toMatch(/at least \d+ screening queries needed/);
  });

  it('a cluster too small for families of its own joins the candidate that gives all of its answers, and only that', () => {
    const { input: i2 } = tenant(200, BUDGET_5);
    i2.minClusterExamples = 10;
    const refund = intents[0]!.answer(0).answer;
    const bits = [
      { cluster: 'refund-bit', answer: refund },
      { cluster: 'parking-bit', answer: 'Parking is free for customers on weekends at every store we run.' },
    ];
    let id = 100_000;
    for (const b of bits) {
      const members = Array.from({ length: 6 }, () => ({ id: ++id, clusterId: b.cluster, query: `query ${id}`, slots: {}, answer: b.answer }));
      i2.train.push(...members);
      i2.heldOut.push(
        ...Array.from({ length: 4 }, () => ({
          id: ++id,
          clusterId: b.cluster,
          query: `query ${id}`,
          slots: {},
          answer: b.answer,
          routedTo: b.cluster,
          similarity: 0.9,
        })),
      );
      i2.clusters.push({ clusterId: b.cluster, memberSimilarities: members.map(() => 0.9), neighbours: ['refund'] });
    }
    const v2 = new Map(answerTexts(i2).map((t) => [t, embed(t)]));
    const r2 = judgedGraduation(i2, v2);
    const joined = r2.candidates.find((c) => c.clusterIds.includes('refund'))!;
    expect(joined.clusterIds).toContain('refund-bit');
    // Its held-out queries are replayed on the candidate (and judged right: the same answer).
    expect(joined.routed).toBe(of('refund').routed + 4);
    expect(joined.wrong).toBe(of('refund').wrong);
    expect(r2.candidates.some((c) => c.clusterIds.includes('parking-bit'))).toBe(false);
    expect(r2.clusters.find((x) => x.clusterId === 'parking-bit')!.reason).toMatch(
      /6 accepted interactions < \d+, and no pooled candidate gives all of its answers/,
    );
  });

  it('a wrong slot value is a wrong answer, however similar the text', () => {
    const { input: i2, vectors: v2 } = tenant(200, BUDGET_5);
    // Held-out "track-id" queries whose accepted answers name another order than the query does.
    for (const x of i2.heldOut) if (x.clusterId === 'track-id') x.answer = x.answer.replace(/Order \d+/, 'Order 999999');
    for (const t of answerTexts(i2)) if (!v2.has(t)) v2.set(t, embed(t));
    const c = judgedGraduation(i2, v2).candidates.find((x) => x.clusterIds.includes('track-id'))!;
    expect(c.replay.filter((x) => x.routedTo === 'track-id').every((x) => !x.agrees && x.pAgree === 0)).toBe(true);
  });
});

describe('formsTemplate', () => {
  it('serves the form with the most slots the query binds, falling back to fewer', () => {
    const t = formsTemplate([
      { template: 'Order {{id}} to {{city}}.', slots: ['city', 'id'] },
      { template: 'Your order.', slots: [] },
      { template: 'Order {{id}}.', slots: ['id'] },
    ]);
    expect(renderAnswer(t, { query: '', slots: { id: '1', city: 'Oslo' } })).toBe('Order 1 to Oslo.');
    expect(renderAnswer(t, { query: '', slots: { id: '1' } })).toBe('Order 1.');
    expect(renderAnswer(t, { query: '', slots: { city: 'Oslo' } })).toBe('Your order.');
    expect(renderAnswer(t, { query: '', slots: {} })).toBe('Your order.');
  });

  it('one form is that form; slotted forms only leave the query unanswered (the router falls back) when no slot is bound', () => {
    expect(formsTemplate([{ template: 'Hello.', slots: [] }])).toBe('Hello.');
    const t = formsTemplate([{ template: 'Order {{id}}.', slots: ['id'] }]);
    expect(() => renderAnswer(t, { query: '', slots: {} })).toThrow(/id/);
  });
});

describe('judgedGraduation with nothing to calibrate on', () => {
  it('a one-cluster tenant gets the identical-only judge: a constant answer can still graduate', () => {
    const train: JudgedExample[] = Array.from({ length: 400 }, (_, i) => ({ id: i + 1, clusterId: 'only', query: `q${i}`, slots: {}, answer: 'Same answer.' }));
    const heldOut: HeldOutExample[] = train.splice(0, 200).map((x) => ({ ...x, routedTo: 'only', similarity: 0.9 }));
    const input: JudgedInput = {
      clusters: [{ clusterId: 'only', memberSimilarities: train.map(() => 0.9), neighbours: [] }],
      train,
      heldOut,
      budget: BUDGET_5,
    };
    const r = judgedGraduation(input, new Map(answerTexts(input).map((t) => [t, embed(t)])));
    expect(r.calibration.id).toBe('identical-only');
    expect(r.candidates).toHaveLength(1);
    expect(r.candidates[0]).toMatchObject({ passed: true, template: 'Same answer.', wrong: 0 });
  });
});

describe('startTolerance', () => {
  it('lets the first test hold as many errors as half the certifying split can afford, from counts alone', () => {
    // At 1% the first clean test needs 299; one error needs a larger first sample, two errors larger still.
    expect(startTolerance(DEFAULT_BUDGET, 500)).toBe(0);
    expect(startTolerance(DEFAULT_BUDGET, 2 * walkStart(DEFAULT_BUDGET, 1))).toBe(1);
    expect(startTolerance(DEFAULT_BUDGET, 2 * walkStart(DEFAULT_BUDGET, 2))).toBe(2);
    expect(startTolerance(BUDGET_5, 100_000)).toBe(3);
    expect(walkStart(DEFAULT_BUDGET, 1)).toBeGreaterThan(walkStart(DEFAULT_BUDGET, 0));
  });
});
