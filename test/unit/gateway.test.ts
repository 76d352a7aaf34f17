import { describe, expect, it } from 'vitest';
import { StreamAssembler, localCompletion, localStream } from '../../src/gateway/completion';
import { loadGatewayConfig } from '../../src/gateway/config';
import { ladderEligibility } from '../../src/gateway/eligibility';
import { ExactMatchJudge, shadowJudge } from '../../src/gateway/judge';
import { entryKey, liveCheck, rampShare, unitHash } from '../../src/gateway/live';
import { GatewayMetrics } from '../../src/gateway/metrics';
import { summarizeSavings } from '../../src/gateway/savings';
import { KeyLimits, RateLimitError } from '../../src/gateway/server';
import { EmbeddingJudge } from '../../src/judge/embedding';
import { syntheticManifest } from '../../src/router/synthetic';

const user = (content: unknown) => ({ role: 'user', content });

describe('ladder eligibility', () => {
  it('takes a single user turn with an optional system prompt and sampling parameters', () => {
    expect(ladderEligibility({ model: 'm', messages: [user('hi there')], temperature: 0, stream: true })).toEqual({
      ok: true,
      query: 'hi there',
      system: null,
    });
    expect(ladderEligibility({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, user([{ type: 'text', text: 'hi' }])] })).toEqual({
      ok: true,
      query: 'hi',
      system: 'be brief',
    });
  });

  it('sends tools, structured output, n > 1, multi-turn, images and (when denied) system prompts to the frontier', () => {
    const no = (b: Record<string, unknown>, opts?: { allowSystem: boolean }) => {
      const e = ladderEligibility({ model: 'm', messages: [user('hi')], ...b }, opts);
      return e.ok ? 'ok' : e.reason;
    };
    expect(no({ tools: [] })).toMatch(/tools/);
    expect(no({ response_format: { type: 'json_object' } })).toMatch(/response_format/);
    expect(no({ n: 2 })).toMatch(/"n"/);
    expect(no({ messages: [user('a'), { role: 'assistant', content: 'b' }, user('c')] })).toMatch(/multi-turn/);
    expect(no({ messages: [user([{ type: 'image_url', image_url: { url: 'x' } }])] })).toMatch(/non-text/);
    expect(no({ messages: [{ role: 'system', content: 's' }, user('q')] }, { allowSystem: false })).toMatch(/system prompt/);
    expect(no({ messages: [{ role: 'assistant', content: 's' }] })).toMatch(/not a user turn/);
  });
});

describe('live checks and the ramp', () => {
  it('demotes exactly when the budget is refuted at its confidence (lower bound > max error rate)', () => {
    expect(liveCheck({ judged: 0, errors: 0 })).toMatchObject({ demote: false, certified: false });
    expect(liveCheck({ judged: 1, errors: 1 }).demote).toBe(true);
    expect(liveCheck({ judged: 5, errors: 1 }).demote).toBe(true);
    expect(liveCheck({ judged: 6, errors: 1 }).demote).toBe(false);
    expect(liveCheck({ judged: 30, errors: 2 }).demote).toBe(true);
    expect(liveCheck({ judged: 400, errors: 2 }).demote).toBe(false);
    expect(liveCheck({ judged: 299, errors: 0 })).toMatchObject({ certified: true, demote: false });
    const c = liveCheck({ judged: 100, errors: 3 });
    expect(c.lowerBound).toBeLessThan(c.rate);
    expect(c.upperBound).toBeGreaterThan(c.rate);
  });

  it('ramps 10% → 50% → 100% by judged shadow checks, shadowing all while ramping', () => {
    const ramp = { shares: [0.1, 0.5, 1], judgedPerStep: 30 };
    expect(rampShare(ramp, { judged: 0, errors: 0 })).toEqual({ share: 0.1, step: 0, ramping: true });
    expect(rampShare(ramp, { judged: 30, errors: 0 })).toEqual({ share: 0.5, step: 1, ramping: true });
    expect(rampShare(ramp, { judged: 500, errors: 0 })).toEqual({ share: 1, step: 2, ramping: false });
    expect(rampShare({ shares: [1], judgedPerStep: 0 }, { judged: 0, errors: 0 })).toEqual({ share: 1, step: 0, ramping: false });
  });

  it('names entries by what serves them, and hashes request ids stably into [0, 1)', () => {
    expect(entryKey({ tier: 'template', target: { template: 'x', script: null, candidateId: 'g1', version: 2 } })).toBe('template:g1@2');
    expect(entryKey({ tier: 'adapter', target: { adapter: 'ft-1', baseModel: 'b', uri: 'u' } })).toBe('adapter:ft-1');
    expect(unitHash('abc')).toBe(unitHash('abc'));
    const hs = Array.from({ length: 2000 }, (_, i) => unitHash(`req-${i}`));
    expect(Math.min(...hs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...hs)).toBeLessThan(1);
    expect(hs.filter((h) => h < 0.1).length / hs.length).toBeGreaterThan(0.07);
    expect(hs.filter((h) => h < 0.1).length / hs.length).toBeLessThan(0.13);
  });
});

describe('completions', () => {
  it('a template answer streams as role, content, finish, usage, [DONE]; the assembler folds chunks back', () => {
    const c = localCompletion('chatcmpl-1', 'gpt-4o', 'Order 5 ships.', 100);
    expect(c.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    const text = localStream(c, true);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const acc = new StreamAssembler();
    for (const line of text.split('\n\n').filter((l) => l && l !== 'data: [DONE]')) acc.add(JSON.parse(line.slice(6)) as never);
    expect(acc.completion()).toMatchObject({
      id: 'chatcmpl-1',
      model: 'gpt-4o',
      choices: [{ message: { content: 'Order 5 ships.' }, finish_reason: 'stop' }],
      usage: c.usage,
    });
  });
});

describe('shadow judge', () => {
  it('uses the manifest’s calibrated judge when it publishes one, else exact match (said in its id)', async () => {
    const m = syntheticManifest({ dims: 4, routes: [] });
    expect(shadowJudge(m, async () => [])).toBeInstanceOf(ExactMatchJudge);
    const calibration = {
      id: 'cal1',
      features: ['cosine'],
      weights: [1],
      bias: 0,
      steps: { score: [0], p: [0.9] },
      counts: { positives: 1, negatives: 1, bySource: {} },
      auc: 1,
    };
    expect(shadowJudge({ ...m, judge: { kind: 'embedding', calibration, agreeAt: 0.5 } }, async () => [])).toBeInstanceOf(EmbeddingJudge);
    const j = await new ExactMatchJudge().judge([
      { query: 'q', candidate: 'Order 5 ships.', reference: 'order 5 ships' },
      { query: 'q', candidate: 'Order 5 ships.', reference: 'Order 5 was cancelled.' },
    ]);
    expect(j.map((x) => x.verdict)).toEqual(['agree', 'disagree']);
  });
});

describe('metrics and savings', () => {
  it('writes Prometheus text with counters, histograms per tier, agreement and demotions', () => {
    const m = new GatewayMetrics();
    m.request('acme', 'template', 200, 3);
    m.request('acme', 'frontier', 200, 120);
    m.judged('acme', 'c_1', 'agree', 1, 0.95);
    m.demoted('acme', 'c_1');
    const t = m.text();
    expect(t).toContain('distillery_gateway_requests_total{tenant="acme",tier="template",status="200"} 1');
    expect(t).toContain('distillery_gateway_request_duration_seconds_bucket{tier="template",le="0.005"} 1');
    expect(t).toContain('distillery_gateway_request_duration_seconds_bucket{tier="frontier",le="0.1"} 0');
    expect(t).toContain('distillery_gateway_request_duration_seconds_count{tier="frontier"} 1');
    expect(t).toContain('distillery_gateway_shadow_agreement{tenant="acme",route="c_1"} 1');
    expect(t).toContain('distillery_gateway_demotions_total{tenant="acme",route="c_1"} 1');
  });

  it('sums avoided USD per route and tier', () => {
    const r = summarizeSavings('acme', new Date(0), new Date(1), [
      { routeId: 'c_1', tier: 'template', requests: 10, promptTokens: 100, completionTokens: 50, costUsd: 0, frontierCostUsd: 0.5 },
      { routeId: '', tier: 'frontier', requests: 2, promptTokens: 20, completionTokens: 10, costUsd: 0.1, frontierCostUsd: 0.1 },
    ]);
    expect(r.rows.map((x) => x.avoidedUsd)).toEqual([0.5, 0]);
    expect(r.totals).toMatchObject({ requests: 12, avoidedUsd: 0.5, byTier: { template: 10, frontier: 2 } });
  });
});

describe('gateway configuration', () => {
  it('needs the frontier, reads the ramp and names bad variables', () => {
    expect(() => loadGatewayConfig({})).toThrow(/GATEWAY_FRONTIER_URL/);
    const c = loadGatewayConfig({ GATEWAY_FRONTIER_URL: 'http://127.0.0.1:9/v1', GATEWAY_RAMP: '0.2,1', GATEWAY_SHADOW_RATE: '0.1' });
    expect(c).toMatchObject({ port: 8788, shadowRate: 0.1, ramp: { shares: [0.2, 1] }, upstreams: { frontier: { baseURL: 'http://127.0.0.1:9/v1' } } });
    expect(() => loadGatewayConfig({ GATEWAY_FRONTIER_URL: 'http://x/v1', GATEWAY_RAMP: '0.1,0.5' })).toThrow(/GATEWAY_RAMP/);
    expect(() => loadGatewayConfig({ GATEWAY_FRONTIER_URL: 'http://x/v1', GATEWAY_SHADOW_RATE: '2' })).toThrow(/GATEWAY_SHADOW_RATE/);
  });
});

describe('per-key limits', () => {
  it('refuses the request over the minute’s limit and any request once the day’s tokens are spent, per key', () => {
    const l = new KeyLimits({ requestsPerMinute: 2, tokensPerDay: 100 });
    l.admit(1);
    l.admit(1);
    expect(() => l.admit(1)).toThrow(RateLimitError);
    l.admit(2); // another key has its own window
    l.spend(2, 100);
    const l2 = new KeyLimits({ requestsPerMinute: 0, tokensPerDay: 100 });
    l2.spend(3, 99);
    l2.admit(3);
    l2.spend(3, 1);
    expect(() => l2.admit(3)).toThrow(/budget of 100 tokens a day/);
    expect(() => new KeyLimits({ requestsPerMinute: 0, tokensPerDay: 0 }).admit(4)).not.toThrow();
  });
});
