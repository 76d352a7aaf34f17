import OpenAI from 'openai';
import { type Embedder, l2normalize } from './types';

export interface OpenAIEmbedderOptions {
  /** Model name as the endpoint knows it, e.g. text-embedding-3-small, BAAI/bge-small-en-v1.5, nomic-embed-text. */
  model: string;
  /** OpenAI-compatible base URL including /v1 (vLLM, TEI, Ollama: http://host:port/v1). Default: OpenAI. */
  baseURL?: string;
  /** Default: the client's (OPENAI_API_KEY). Local servers usually accept any value. */
  apiKey?: string;
  /** Texts per request (default 256). */
  batchSize?: number;
  /** Per-request timeout in ms (default 60 s); each retry gets its own. */
  timeoutMs?: number;
  /** Retries on connection errors, 408, 409, 429 and 5xx, with the client's backoff (default 3). */
  maxRetries?: number;
  /**
   * Vector length. Known up front it is checked against every response; unknown, it is taken from the first
   * response. With `sendDimensions` it is also sent as the `dimensions` parameter (text-embedding-3 models
   * shorten their vectors), and becomes part of the id.
   */
  dims?: number;
  sendDimensions?: boolean;
  /** `float` (default: every compatible server speaks it) or `base64` (smaller answers, OpenAI and vLLM). */
  encodingFormat?: 'float' | 'base64';
  /** Requests in flight at once (default 1). */
  concurrency?: number;
  /** Cache key id (default `openai:<model>`, plus `@<dims>` when dimensions are sent). */
  id?: string;
  /** A ready client (tests, custom fetch); baseURL/apiKey/timeout/maxRetries are then ignored. */
  client?: OpenAI;
}

/**
 * Embeddings from any OpenAI-compatible endpoint (OpenAI, vLLM, TEI, Ollama) through the `openai` client: texts go
 * in batches of `batchSize`, each request with the client's timeout and retries; vectors come back in input order,
 * L2-normalised (some servers do not normalise).
 */
export class OpenAIEmbedder implements Embedder {
  readonly id: string;
  readonly model: string;
  readonly batchSize: number;
  readonly client: OpenAI;
  private _dims: number;
  private readonly sendDimensions: boolean;
  private readonly encodingFormat: 'float' | 'base64';
  private readonly concurrency: number;

  constructor(opts: OpenAIEmbedderOptions) {
    if (!opts.model) throw new Error('OpenAIEmbedder: model is required (EMBEDDING_MODEL)');
    this.model = opts.model;
    this.batchSize = Math.max(1, opts.batchSize ?? 256);
    this._dims = opts.dims ?? 0;
    this.sendDimensions = !!opts.sendDimensions && !!opts.dims;
    this.encodingFormat = opts.encodingFormat ?? 'float';
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.id = opts.id ?? `openai:${opts.model}${this.sendDimensions ? `@${opts.dims}` : ''}`;
    this.client =
      opts.client ??
      new OpenAI({
        baseURL: opts.baseURL,
        // The client refuses to start without a key; local servers (vLLM, TEI, Ollama) do not check it.
        apiKey: opts.apiKey ?? process.env.OPENAI_API_KEY ?? (opts.baseURL ? 'unused' : undefined),
        timeout: opts.timeoutMs ?? 60_000,
        maxRetries: opts.maxRetries ?? 3,
      });
  }

  /** 0 until the first response when not configured. */
  get dims(): number {
    return this._dims;
  }

  /** Learns `dims` with one one-text request when it is not known yet (createEmbedder calls it). */
  async ensureDims(): Promise<number> {
    if (this._dims === 0) await this.request(['dimension probe']);
    return this._dims;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out = new Array<Float32Array>(texts.length);
    const starts: number[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) starts.push(i);
    let next = 0;
    const worker = async () => {
      while (next < starts.length) {
        const start = starts[next++]!;
        const vectors = await this.request(texts.slice(start, start + this.batchSize));
        vectors.forEach((v, j) => (out[start + j] = v));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, starts.length) }, worker));
    return out;
  }

  private async request(input: string[]): Promise<Float32Array[]> {
    const res = await this.client.embeddings.create({
      model: this.model,
      input,
      encoding_format: this.encodingFormat,
      ...(this.sendDimensions ? { dimensions: this._dims } : {}),
    });
    const data = res.data;
    if (!Array.isArray(data) || data.length !== input.length) {
      throw new Error(`embeddings endpoint answered ${Array.isArray(data) ? data.length : 'no'} vectors for ${input.length} inputs (model ${this.model})`);
    }
    const vectors = new Array<Float32Array>(input.length);
    data.forEach((item, pos) => {
      const index = typeof item.index === 'number' ? item.index : pos;
      const v = toFloat32(item.embedding as unknown);
      if (index < 0 || index >= input.length || vectors[index]) throw new Error(`embeddings endpoint answered a bad or repeated index ${index}`);
      if (this._dims === 0) this._dims = v.length;
      if (v.length !== this._dims) throw new Error(`embeddings endpoint answered ${v.length} dims, expected ${this._dims} (model ${this.model})`);
      vectors[index] = l2normalize(v);
    });
    return vectors;
  }
}

function toFloat32(e: unknown): Float32Array {
  if (e instanceof Float32Array) return new Float32Array(e);
  if (Array.isArray(e)) return Float32Array.from(e as number[]);
  if (typeof e === 'string') {
    const buf = Buffer.from(e, 'base64');
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  }
  throw new Error(`embeddings endpoint answered an embedding of type ${typeof e}`);
}
