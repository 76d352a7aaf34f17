import OpenAI from 'openai';
import type { TierName } from '../serving/manifest';
import { type HttpClient, nodeFetch } from './http-fetch';
import { postCompletion } from './upstream-call';

/**
 * The gateway's OpenAI-compatible upstreams, one per model tier: the adapter server (`model` = the adapter's name,
 * vLLM / LoRAX / `distillery adapter-server`), the cheap model and the frontier (the teacher). Each call has a time
 * limit and the client's retries (429, 5xx, timeouts, with backoff); a tier that fails after its retries hands the
 * request to the next tier up (adapter → cheap → frontier) before anything was streamed to the caller. Streams go
 * through the OpenAI SDK; non-streamed completions through upstream-call.ts (the SDK's retry policy and errors, less
 * its per-request cost); both over one keep-alive node:http client (http-fetch.ts: far cheaper per request than
 * Node's built-in fetch).
 */

export type ModelTier = Exclude<TierName, 'template'>;

export interface UpstreamConfig {
  baseURL: string;
  apiKey?: string;
}

export interface UpstreamsConfig {
  frontier: UpstreamConfig;
  cheap?: UpstreamConfig;
  adapter?: UpstreamConfig;
  timeoutMs: number;
  retries: number;
}

const LADDER: ModelTier[] = ['adapter', 'cheap', 'frontier'];

export class Upstreams {
  private readonly clients = new Map<ModelTier, OpenAI>();
  private readonly completionUrls = new Map<ModelTier, URL>();
  private readonly http: HttpClient = nodeFetch();

  constructor(readonly config: UpstreamsConfig) {
    for (const t of LADDER) {
      const c = config[t];
      if (!c) continue;
      const client = new OpenAI({
        baseURL: c.baseURL,
        apiKey: c.apiKey || 'unused',
        timeout: config.timeoutMs,
        maxRetries: config.retries,
        fetch: this.http.fetch,
      });
      this.clients.set(t, client);
      // The SDK's own join of base URL and path.
      this.completionUrls.set(t, new URL(client.buildURL('/chat/completions', null)));
    }
  }

  /** Closes the idle upstream connections. */
  close(): void {
    this.http.close();
  }

  has(tier: ModelTier): boolean {
    return this.clients.has(tier);
  }

  /** The tiers to try for a request decided for `tier`, in order: it (when configured), then each configured one above. */
  chain(tier: ModelTier): ModelTier[] {
    return LADDER.slice(LADDER.indexOf(tier)).filter((t) => this.clients.has(t));
  }

  client(tier: ModelTier): OpenAI {
    const c = this.clients.get(tier);
    if (!c) throw new Error(`no upstream configured for the ${tier} tier`);
    return c;
  }

  /** A non-streamed completion. */
  async complete(tier: ModelTier, body: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const client = this.client(tier);
    return postCompletion(
      this.http,
      this.completionUrls.get(tier)!,
      client.apiKey ?? 'unused',
      { ...body, stream: false },
      {
        timeoutMs: this.config.timeoutMs,
        retries: this.config.retries,
        signal,
      },
    );
  }

  /** A streamed completion: resolves once the upstream accepted the request (status 200), before the first chunk. */
  async stream(tier: ModelTier, body: Record<string, unknown>, signal?: AbortSignal): Promise<AsyncIterable<Record<string, unknown>>> {
    const r = await this.client(tier).chat.completions.create({ ...body, stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming, { signal });
    return r as unknown as AsyncIterable<Record<string, unknown>>;
  }
}
