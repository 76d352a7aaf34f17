import OpenAI from 'openai';

export interface StudentAnswersOptions {
  /** The adapter server's OpenAI base URL (http://host:port/v1): `distillery adapter-server`, vLLM, LoRAX. */
  baseURL: string;
  /** The adapter's OpenAI model name (the manifest's AdapterTarget.adapter); the base's name answers without adapter. */
  model: string;
  queries: readonly string[];
  /** A system turn before each query, as the training data had it. */
  system?: string;
  maxTokens?: number;
  /** Per request (default 120 s: a CPU server answers a 64-token reply in seconds, a queue adds more). */
  timeoutMs?: number;
  /** Retries of a failed request (connection errors, 408/409/429/5xx), with the client's backoff. Default 3. */
  maxRetries?: number;
  /** Requests in flight at once: the server batches those for the same adapter. Default 8. */
  concurrency?: number;
  apiKey?: string;
}

export interface StudentAnswer {
  query: string;
  answer: string;
  finishReason: string | null;
  completionTokens: number | null;
}

/**
 * The student's answers to `queries`, in order, from an OpenAI-compatible adapter server through the real `openai`
 * client (greedy, so a replay is reproducible). A query that still fails after the client's retries rejects the
 * whole call: a replay must not judge a silently missing answer.
 */
export async function studentAnswers(opts: StudentAnswersOptions): Promise<StudentAnswer[]> {
  const client = new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey ?? 'unused', timeout: opts.timeoutMs ?? 120_000, maxRetries: opts.maxRetries ?? 3 });
  const out: StudentAnswer[] = new Array(opts.queries.length);
  let next = 0;
  const worker = async () => {
    while (next < opts.queries.length) {
      const i = next++;
      const query = opts.queries[i]!;
      const r = await client.chat.completions.create({
        model: opts.model,
        messages: [...(opts.system ? [{ role: 'system' as const, content: opts.system }] : []), { role: 'user' as const, content: query }],
        max_tokens: opts.maxTokens ?? 256,
        temperature: 0,
      });
      const c = r.choices[0];
      out[i] = { query, answer: c?.message.content ?? '', finishReason: c?.finish_reason ?? null, completionTokens: r.usage?.completion_tokens ?? null };
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, opts.queries.length)) }, worker));
  return out;
}
