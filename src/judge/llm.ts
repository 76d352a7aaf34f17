import OpenAI from 'openai';
import { sameAnswer, slotConflicts } from './features';
import type { Judge, JudgePair, Judgement } from './types';

export interface LlmJudgeOptions {
  /** Model name as the endpoint knows it. */
  model: string;
  /** OpenAI-compatible base URL including /v1 (OpenAI, vLLM, Ollama, ...). */
  baseURL?: string;
  apiKey?: string;
  /** Per-request timeout in ms (default 30 s); each retry gets its own. */
  timeoutMs?: number;
  /** Retries on connection errors, 408, 409, 429 and 5xx with the client's backoff (default 3). */
  maxRetries?: number;
  /** USD per million tokens, for the cost in each judgement's evidence (default 0: unknown). */
  pricePerMillion?: { input: number; output: number };
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** A ready client (tests, custom fetch); baseURL/apiKey/timeout/maxRetries are then ignored. */
  client?: OpenAI;
}

/** Versioned with the judge id: a changed prompt is a different judge, and its verdicts are not comparable. */
export const LLM_JUDGE_PROMPT_VERSION = 'agree-v1';

const SYSTEM = [
  'You check answers of a customer-facing assistant.',
  'Decide whether the CANDIDATE answer agrees in meaning with the REFERENCE answer for the user QUERY: same facts, same',
  'values (numbers, ids, dates, amounts, names), same instructions. Wording, tone, order and length may differ.',
  'Reply with JSON only: {"agree": true|false, "confidence": <number between 0.5 and 1>}.',
].join(' ');

export function judgePrompt(p: JudgePair): Array<{ role: 'system' | 'user'; content: string }> {
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: `QUERY:\n${p.query}\n\nREFERENCE:\n${p.reference}\n\nCANDIDATE:\n${p.candidate}` },
  ];
}

/** Reads the model's reply; anything that is not a clear verdict is null (and then counts as disagreement). */
export function parseVerdict(reply: string): { agree: boolean; confidence: number } | null {
  const m = /\{[\s\S]*\}/.exec(reply);
  if (!m) return null;
  try {
    const v = JSON.parse(m[0]) as { agree?: unknown; confidence?: unknown };
    if (typeof v.agree !== 'boolean') return null;
    const c = typeof v.confidence === 'number' && Number.isFinite(v.confidence) ? Math.min(1, Math.max(0.5, v.confidence)) : 0.75;
    return { agree: v.agree, confidence: c };
  } catch {
    return null;
  }
}

/**
 * An LLM judge through any OpenAI-compatible endpoint, for the borderline band the embedding judge cannot certify.
 * Temperature 0; every judgement records the prompt, model, reply, token usage and cost. Identical answers and slot
 * conflicts are decided without a call (a wrong value is wrong whatever the model says). A reply that is not a verdict counts as
 * disagreement, with the reason in the evidence; a failed request (after the client's retries) throws, so the
 * activity around it retries rather than recording a verdict nobody gave.
 */
export class LlmJudge implements Judge {
  readonly id: string;
  private readonly client: OpenAI;

  constructor(private readonly opts: LlmJudgeOptions) {
    if (!opts.model) throw new Error('LlmJudge: model is required (the judge model name as the endpoint knows it)');
    this.id = `llm:${opts.model}:${LLM_JUDGE_PROMPT_VERSION}`;
    this.client =
      opts.client ??
      new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey ?? 'unused', timeout: opts.timeoutMs ?? 30_000, maxRetries: opts.maxRetries ?? 3 });
  }

  async judge(pairs: ReadonlyArray<JudgePair>): Promise<Judgement[]> {
    const out = new Array<Judgement>(pairs.length);
    let next = 0;
    const worker = async () => {
      while (next < pairs.length) {
        const i = next++;
        out[i] = await this.one(pairs[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 4, pairs.length) }, worker));
    return out;
  }

  private async one(p: JudgePair): Promise<Judgement> {
    if (sameAnswer(p.candidate, p.reference)) return { pAgree: 1, verdict: 'agree', evidence: { judge: 'identical' } };
    const conflicts = slotConflicts(p.candidate, p.reference);
    if (conflicts.length) return { pAgree: 0, verdict: 'disagree', evidence: { judge: 'slots', conflicts } };
    const prompt = judgePrompt(p);
    const res = await this.client.chat.completions.create({ model: this.opts.model, messages: prompt, temperature: 0, max_tokens: 40 });
    const reply = res.choices[0]?.message?.content ?? '';
    const usage = { promptTokens: res.usage?.prompt_tokens ?? 0, completionTokens: res.usage?.completion_tokens ?? 0 };
    const price = this.opts.pricePerMillion ?? { input: 0, output: 0 };
    const costUsd = (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1e6;
    const v = parseVerdict(reply);
    const evidence = { judge: 'llm' as const, model: this.opts.model, prompt, reply, usage, costUsd };
    if (!v) return { pAgree: 0, verdict: 'disagree', evidence: { ...evidence, error: 'reply is not a JSON verdict {"agree": ..., "confidence": ...}' } };
    const pAgree = v.agree ? v.confidence : 1 - v.confidence;
    return { pAgree, verdict: v.agree ? 'agree' : 'disagree', evidence };
  }
}
