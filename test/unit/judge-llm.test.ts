import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlmJudge, parseVerdict } from '../../src/judge/llm';
import type { JudgeEvidence } from '../../src/judge/types';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai';

describe('LlmJudge through the real openai client', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI();
    // The fake judge model agrees when the candidate mentions "refund" like the reference does.
    fake.answer = (_model, messages) => {
      const user = messages.find((m) => m.role === 'user')!.content;
      const [, reference, candidate] = /REFERENCE:\n([\s\S]*)\n\nCANDIDATE:\n([\s\S]*)$/.exec(user)!;
      if (candidate!.includes('garbled')) return 'I think they are similar.';
      return JSON.stringify({ agree: reference!.includes('refund') === candidate!.includes('refund'), confidence: 0.9 });
    };
  });
  afterAll(() => fake.close());

  it('records prompt, model, reply, usage and cost for each verdict', async () => {
    const judge = new LlmJudge({ model: 'judge-mini', baseURL: fake.baseURL, pricePerMillion: { input: 0.15, output: 0.6 } });
    const before = fake.chatRequests.length;
    const [yes, no] = await judge.judge([
      { query: 'where is my refund', candidate: 'Your refund is on its way.', reference: 'The refund was sent today.' },
      { query: 'where is my refund', candidate: 'Your parcel has shipped.', reference: 'The refund was sent today.' },
    ]);
    expect(fake.chatRequests.length - before).toBe(2);
    expect(yes).toMatchObject({
      verdict: 'agree',
      pAgree: 0.9,
      evidence: { judge: 'llm', model: 'judge-mini', usage: { promptTokens: 10, completionTokens: 5 } },
    });
    expect(no).toMatchObject({ verdict: 'disagree', pAgree: expect.closeTo(0.1, 9) });
    const ev = yes!.evidence as Extract<JudgeEvidence, { judge: 'llm' }>;
    expect(ev.costUsd).toBeCloseTo((10 * 0.15 + 5 * 0.6) / 1e6, 15);
    expect(ev.prompt[1]!.content).toContain('CANDIDATE:\nYour refund is on its way.');
    expect(fake.chatRequests.at(-1)).toMatchObject({ model: 'judge-mini', temperature: 0 });
    expect(judge.id).toBe('llm:judge-mini:agree-v1');
  });

  it('decides slot conflicts without a call, and counts a reply that is not a verdict as disagreement', async () => {
    const judge = new LlmJudge({ model: 'judge-mini', baseURL: fake.baseURL });
    const before = fake.chatRequests.length;
    const [slot] = await judge.judge([{ query: 'refund', candidate: 'A refund of $20 is on its way.', reference: 'A refund of $200 is on its way.' }]);
    expect(fake.chatRequests.length).toBe(before);
    expect(slot).toMatchObject({ verdict: 'disagree', pAgree: 0, evidence: { judge: 'slots' } });
    const [odd] = await judge.judge([{ query: 'refund', candidate: 'garbled', reference: 'The refund was sent.' }]);
    expect(odd).toMatchObject({ verdict: 'disagree', pAgree: 0, evidence: { error: expect.stringMatching(/not a JSON verdict/) } });
  });

  it('parses verdicts wrapped in prose or fences and clamps confidence', () => {
    expect(parseVerdict('```json\n{"agree": true, "confidence": 3}\n```')).toEqual({ agree: true, confidence: 1 });
    expect(parseVerdict('{"agree": "yes"}')).toBeNull();
    expect(parseVerdict('{"agree": false}')).toEqual({ agree: false, confidence: 0.75 });
  });
});

describe('LlmJudge timeouts and retries', () => {
  it('retries a failing endpoint and succeeds; gives up after its timeout on one that never answers', async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        if (req.url?.includes('/slow/')) return; // never answers
        if (calls === 1) {
          res.writeHead(503, { 'content-type': 'application/json' });
          return res.end(JSON.stringify({ error: { message: 'overloaded' } }));
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'x',
            object: 'chat.completion',
            created: 1,
            model: 'm',
            choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: '{"agree": true, "confidence": 0.8}' } }],
            usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const ok = new LlmJudge({ model: 'm', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 2, timeoutMs: 5000 });
      const [j] = await ok.judge([{ query: 'q', candidate: 'yes, it ships today', reference: 'it ships today' }]);
      expect(calls).toBe(2);
      expect(j).toMatchObject({ verdict: 'agree', pAgree: 0.8 });
      const slow = new LlmJudge({ model: 'm', baseURL: `http://127.0.0.1:${port}/slow/v1`, maxRetries: 1, timeoutMs: 300 });
      const t0 = Date.now();
      await expect(slow.judge([{ query: 'q', candidate: 'a', reference: 'b' }])).rejects.toThrow(/timed out/i);
      expect(calls).toBe(4);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
