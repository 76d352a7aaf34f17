import { describe, expect, it } from 'vitest';
import { DEFAULT_REPLAY_POLICY, type Prices, type ReplayPolicy, type ReplayRow, replayManifest, replayPolicyFor } from '../../src/manifest/replay';
import type { Resolution, TierName } from '../../src/serving/manifest';

/** Prices with a per-call fee on the frontier and the adapter, so both token and call costs show. */
const prices: Prices = {
  frontier: { model: 'gpt-4o', inputPerMTok: 2.5, outputPerMTok: 10, perCall: 0.002 },
  cheap: { model: 'gpt-4o-mini', inputPerMTok: 0.15, outputPerMTok: 0.6, perCall: 0 },
  adapter: { model: 'lora-small', inputPerMTok: 0.05, outputPerMTok: 0.2, perCall: 0.0001 },
  template: { model: 'template', inputPerMTok: 0, outputPerMTok: 0, perCall: 0 },
};
/** USD of one call: tokens at the per-million prices plus the per-call fee. */
const usd = (tier: TierName, p: number, c: number) => (p * prices[tier].inputPerMTok + c * prices[tier].outputPerMTok) / 1e6 + prices[tier].perCall;

const vec = (i: number) => new Float32Array([i, 0, 0, 0]);

interface Case {
  row: ReplayRow;
  res: Resolution;
}

const template = (answer: string | undefined): Resolution => ({
  tier: 'template',
  routeId: 'c_order',
  similarity: 0.95,
  ...(answer === undefined ? {} : { answer }),
  reason: 'route',
});
const adapter = (name: string): Resolution => ({
  tier: 'adapter',
  routeId: 'c_cancel',
  similarity: 0.9,
  adapter: { adapter: name, baseModel: 'qwen', uri: 's3://b/a/' },
  reason: 'route',
});
const cheap: Resolution = { tier: 'cheap', routeId: 'c_faq', similarity: 0.9, model: 'gpt-4o-mini', reason: 'route' };
const frontierRoute: Resolution = { tier: 'frontier', routeId: 'c_hard', similarity: 0.9, model: 'gpt-4o', reason: 'route' };
const fallback: Resolution = { tier: 'frontier', routeId: null, similarity: 0.3, model: 'gpt-4o', reason: 'below threshold' };

let n = 0;
function c(answer: string, res: Resolution, promptTokens = 1000, completionTokens = 200): Case {
  const i = n++;
  return { row: { query: `q${i}`, vector: vec(i), answer, promptTokens, completionTokens }, res };
}

/** Replays the cases with a stub resolver that answers each query with its case's resolution. */
function replay(cases: Case[], opts: { policy?: ReplayPolicy; inServiceQuality?: number | null; adapterQuality?: (a: string) => number | undefined } = {}) {
  const byQuery = new Map(cases.map((x) => [x.row.query, x]));
  const seen: string[] = [];
  const report = replayManifest(
    cases.map((x) => x.row),
    (vector, query) => {
      const hit = byQuery.get(query)!;
      expect(vector).toBe(hit.row.vector);
      seen.push(query);
      return hit.res;
    },
    prices,
    { adapterQuality: opts.adapterQuality ?? ((a) => (a === 'acme-cancel' ? 0.9 : undefined)), policy: opts.policy, inServiceQuality: opts.inServiceQuality },
  );
  expect(seen).toEqual(cases.map((x) => x.row.query));
  return report;
}

describe('replayManifest: where traffic goes and what it costs', () => {
  const mixed: Case[] = [
    // Templates: agreement after normalisation (case, spacing, typographic quotes, trailing punctuation), not exact text.
    c('Order 1 ships tomorrow.', template('order 1 ships   tomorrow'), 1200, 30),
    c('Don’t worry, order 2 ships.', template("don't worry, order 2 ships!"), 800, 40),
    c('Order 3 ships tomorrow.', template('Order 4 ships tomorrow.'), 900, 25),
    c('Order 5 ships tomorrow.', template('Order 5 ships tomorrow.'), 1000, 20),
    // Adapters: quality from their gate figure; one the gate knows nothing of counts as 0.
    c('cancelled', adapter('acme-cancel'), 500, 100),
    c('cancelled', adapter('acme-cancel'), 700, 150),
    c('cancelled', adapter('mystery'), 600, 120),
    c('see the faq', cheap, 300, 400),
    c('hard answer', frontierRoute, 2000, 800),
    c('fallback answer', fallback, 1500, 600),
  ];

  it('counts calls, shares and costs per tier from the prices; template calls cost nothing', () => {
    const r = replay(mixed);
    expect(r.rows).toBe(10);
    expect(r.perTier.template).toMatchObject({ calls: 4, share: 0.4, cost: 0 });
    expect(r.perTier.adapter).toMatchObject({ calls: 3, share: 0.3 });
    expect(r.perTier.cheap).toMatchObject({ calls: 1, share: 0.1 });
    // The fallback is served by the frontier model, so it counts as frontier.
    expect(r.perTier.frontier).toMatchObject({ calls: 2, share: 0.2 });
    expect(r.perTier.adapter.cost).toBeCloseTo(usd('adapter', 500, 100) + usd('adapter', 700, 150) + usd('adapter', 600, 120), 12);
    expect(r.perTier.cheap.cost).toBeCloseTo(usd('cheap', 300, 400), 12);
    expect(r.perTier.frontier.cost).toBeCloseTo(usd('frontier', 2000, 800) + usd('frontier', 1500, 600), 12);
    // Hand-computed: 2000 × 2.5/1M + 800 × 10/1M + 0.002 = 0.005 + 0.008 + 0.002.
    expect(usd('frontier', 2000, 800)).toBeCloseTo(0.015, 12);
    const projected = r.perTier.template.cost + r.perTier.adapter.cost + r.perTier.cheap.cost + r.perTier.frontier.cost;
    expect(r.projectedCost).toBeCloseTo(projected, 12);
  });

  it('prices the whole slice on the frontier (prompt and completion tokens plus the per-call fee) and reports the reduction', () => {
    const r = replay(mixed);
    const all = mixed.reduce((a, x) => a + usd('frontier', x.row.promptTokens, x.row.completionTokens), 0);
    expect(r.allFrontierCost).toBeCloseTo(all, 12);
    // Ten calls: the per-call fee alone is 0.02 of it.
    expect(r.allFrontierCost).toBeGreaterThan(10 * prices.frontier.perCall);
    expect(r.reduction).toBeCloseTo(1 - r.projectedCost / all, 12);
    expect(r.reduction).toBeGreaterThan(0);
    expect(r.reduction).toBeLessThan(1);
  });

  it('a slice served entirely by templates costs nothing (reduction 1); entirely on the frontier saves nothing (reduction 0)', () => {
    const t = replay([c('A.', template('a')), c('B.', template('b'))]);
    expect(t.projectedCost).toBe(0);
    expect(t.reduction).toBe(1);
    const f = replay([c('a', frontierRoute, 100, 10), c('b', fallback, 200, 20)]);
    expect(f.projectedCost).toBeCloseTo(f.allFrontierCost, 15);
    expect(f.reduction).toBeCloseTo(0, 12);
  });

  it('measures template agreement with normalised comparison and projects adapters from adapterQuality', () => {
    const r = replay(mixed);
    expect(r.quality.template).toMatchObject({ served: 4, agreed: 3, rate: 0.75, judge: 'normalised-match' });
    expect(r.quality.adapter.served).toBe(3);
    expect(r.quality.adapter.projected).toBeCloseTo((0.9 + 0.9 + 0) / 3, 12);
    // 3 templates + 1.8 adapters + 0.9 cheap (policy default) + 2 frontier, over 10.
    expect(r.quality.overall).toBeCloseTo(0.77, 12);

    const asked: string[] = [];
    replay([c('x', adapter('a1')), c('y', adapter('a2'))], { adapterQuality: (a) => (asked.push(a), 1) });
    expect(asked).toEqual(['a1', 'a2']);
  });

  it('a template resolution without an answer does not agree', () => {
    const r = replay([c('Order 1 ships.', template(undefined)), c('Order 2 ships.', template('Order 2 ships.'))]);
    expect(r.quality.template).toMatchObject({ served: 2, agreed: 1, rate: 0.5 });
  });

  it('an empty slice passes with nothing to compare', () => {
    const r = replay([]);
    expect(r).toMatchObject({ rows: 0, allFrontierCost: 0, projectedCost: 0, reduction: 0, passed: true, reasons: [] });
    expect(r.quality).toMatchObject({ template: { served: 0, agreed: 0, rate: 1, errorLowerBound: 0 }, adapter: { served: 0, projected: 0 }, overall: 1 });
  });
});

describe('replayManifest: judged by policy', () => {
  const templates = (agree: number, total: number) =>
    Array.from({ length: total }, (_, i) => c(`Order ${i} ships.`, template(i < agree ? `order ${i} ships` : `Order ${i + 1} ships.`)));

  it("refuses when even the lower bound of the templates' error rate exceeds the budget, and passes while it does not", () => {
    // 3 wrong of 100: at least 0.82% wrong at 95% (within a 1% budget); 4 of 100: at least 1.37% (beyond it).
    const ok = replay(templates(97, 100), { policy: { ...DEFAULT_REPLAY_POLICY, minQuality: 0 } });
    expect(ok.quality.template.errorLowerBound).toBeLessThan(0.01);
    expect(ok).toMatchObject({ passed: true, reasons: [] });
    const bad = replay(templates(96, 100), { policy: { ...DEFAULT_REPLAY_POLICY, minQuality: 0 } });
    expect(bad.quality.template.errorLowerBound).toBeGreaterThan(0.01);
    expect(bad.passed).toBe(false);
    expect(bad.reasons).toEqual([
      expect.stringMatching(/^template answers: 4 of 100 disagree with the accepted ones, at least 1\.\d\d% wrong \(95% bound\) > the 1\.00% budget$/),
    ]);
    // A looser budget takes the same evidence.
    expect(
      replay(templates(96, 100), { policy: { ...DEFAULT_REPLAY_POLICY, minQuality: 0, budget: { ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.05 } } })
        .passed,
    ).toBe(true);
  });

  it('judges template answers with the given agreement: a reworded answer the judge agrees with counts as right', () => {
    const cases = [c('Your order ships tomorrow.', template('Tomorrow your order ships.')), c('Refunds take 5 days.', template('Refunds take 5 days.'))];
    expect(replay(cases).quality.template.agreed).toBe(1);
    const judged = replayManifest(
      cases.map((x) => x.row),
      (_v, q) => cases.find((x) => x.row.query === q)!.res,
      prices,
      { adapterQuality: () => undefined, agreement: (a, b) => (a.includes('ships') && b.includes('ships') ? 0.995 : a === b ? 1 : 0), judge: 'embedding:test' },
    );
    expect(judged.quality.template).toMatchObject({ agreed: 2, judge: 'embedding:test' });
    // Below 1 - budget it is not right: a judge's 0.98 is a 2% chance of serving a wrong answer.
    const unsure = replayManifest(
      cases.map((x) => x.row),
      (_v, q) => cases.find((x) => x.row.query === q)!.res,
      prices,
      {
        adapterQuality: () => undefined,
        agreement: (a, b) => (a === b ? 1 : 0.98),
      },
    );
    expect(unsure.quality.template.agreed).toBe(1);
  });

  it('adapter rows the adapter server answered count their judged real answer, the others the gate figure', () => {
    const cases = [c('cancelled', adapter('acme-cancel')), c('cancelled', adapter('acme-cancel')), c('cancelled', adapter('acme-cancel'))];
    const r = replayManifest(
      cases.map((x) => x.row),
      (_v, q) => cases.find((x) => x.row.query === q)!.res,
      prices,
      // Row 0: the student agreed; row 1: it did not; row 2: not asked (the gate's 0.9 stands for it).
      { adapterQuality: () => 0.9, adapterAgreement: (i) => (i === 0 ? 0.999 : i === 1 ? 0.2 : undefined) },
    );
    expect(r.quality.adapter).toMatchObject({ served: 3, measured: { rows: 2, agreed: 1 } });
    expect(r.quality.adapter.projected).toBeCloseTo((1 + 0 + 0.9) / 3, 12);
  });

  it('a cheap route counts its measured trial agreement instead of the policy default', () => {
    const r = replayManifest([c('faq', cheap).row], () => cheap, prices, {
      adapterQuality: () => undefined,
      cheapQuality: (id) => (id === 'c_faq' ? 0.995 : undefined),
    });
    expect(r.quality.overall).toBeCloseTo(0.995, 12);
  });

  it('refuses when overall quality is below the floor', () => {
    const cheapOnly = Array.from({ length: 10 }, () => c('faq', cheap));
    const r = replay(cheapOnly);
    expect(r.quality.overall).toBeCloseTo(DEFAULT_REPLAY_POLICY.cheapQuality, 12);
    expect(r.passed).toBe(false);
    expect(r.reasons).toEqual(['projected quality 0.900 < 0.95']);
    // Adapters below the floor too.
    const weak = replay([c('x', adapter('acme-cancel')), c('y', frontierRoute)], { adapterQuality: () => 0.8 });
    expect(weak.reasons).toEqual(['projected quality 0.900 < 0.95']);
    // The same traffic passes when the cheap tier is trusted more.
    expect(replay(cheapOnly, { policy: { ...DEFAULT_REPLAY_POLICY, cheapQuality: 0.97 } })).toMatchObject({ passed: true, reasons: [] });
  });

  it('refuses a drop of more than maxQualityDrop below the manifest in service, and passes within it', () => {
    const policy: ReplayPolicy = { budget: DEFAULT_REPLAY_POLICY.budget, maxQualityDrop: 0.125, minQuality: 0, cheapQuality: 0.75 };
    const cheapOnly = Array.from({ length: 4 }, () => c('faq', cheap));
    const dropped = replay(cheapOnly, { policy, inServiceQuality: 1 });
    expect(dropped.quality.overall).toBe(0.75);
    expect(dropped.passed).toBe(false);
    expect(dropped.reasons).toEqual(['projected quality 0.750 is more than 0.125 below the manifest in service (1.000)']);
    // Exactly maxQualityDrop below is within.
    expect(replay(cheapOnly, { policy: { ...policy, maxQualityDrop: 0.25 }, inServiceQuality: 1 })).toMatchObject({ passed: true, reasons: [] });
    expect(replay(cheapOnly, { policy, inServiceQuality: 0.8 })).toMatchObject({ passed: true, reasons: [] });
    // Better than the manifest in service, or nothing in service: no comparison to fail.
    expect(replay(cheapOnly, { policy, inServiceQuality: 0.5 }).passed).toBe(true);
    expect(replay(cheapOnly, { policy, inServiceQuality: null }).passed).toBe(true);
    expect(replay(cheapOnly, { policy }).passed).toBe(true);
  });

  it("ties the allowed drop and the floor to the tenant's budget: a 10% budget takes a change a 1% budget refuses", () => {
    // One adapter route at 0.9 on half the traffic: projected quality 0.95, 0.05 below a manifest in service at 1.
    const half = [c('x', adapter('acme-cancel')), c('y', frontierRoute)];
    const opts = { adapterQuality: () => 0.9, inServiceQuality: 1 };
    const strict = replay(half, { ...opts, policy: replayPolicyFor({ ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.01 }) });
    expect(strict.reasons).toEqual(['projected quality 0.950 is more than 0.01 below the manifest in service (1.000)']);
    const loose = replay(half, { ...opts, policy: replayPolicyFor({ ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.1 }) });
    expect(loose).toMatchObject({ passed: true, reasons: [] });
    // The floor follows a large budget down (1 − 10%), never above the default 0.95.
    expect(replayPolicyFor({ ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.1 }).minQuality).toBeCloseTo(0.9, 12);
    expect(replayPolicyFor({ ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.001 }).minQuality).toBe(0.95);
    expect(replay(half, { adapterQuality: () => 0.7, policy: replayPolicyFor({ ...DEFAULT_REPLAY_POLICY.budget, maxErrorRate: 0.1 }) }).reasons).toEqual([
      'projected quality 0.850 < 0.9',
    ]);
  });

  it('lists every reason that applies', () => {
    const r = replay(
      [
        c('Order 1 ships tomorrow.', template('Order 1 ships tomorrow.')),
        c('Order 3 ships tomorrow.', template('Order 4 ships tomorrow.')),
        c('faq', cheap),
        c('faq', cheap),
      ],
      { inServiceQuality: 0.99 },
    );
    // Quality (1 + 0 + 0.9 + 0.9) / 4 = 0.7.
    expect(r.quality.overall).toBeCloseTo(0.7, 12);
    expect(r.passed).toBe(false);
    expect(r.reasons).toEqual([
      expect.stringMatching(/^template answers: 1 of 2 disagree/),
      'projected quality 0.700 < 0.95',
      'projected quality 0.700 is more than 0.01 below the manifest in service (0.990)',
    ]);
  });
});
