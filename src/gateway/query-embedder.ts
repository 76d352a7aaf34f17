import type { Embedder } from '../embeddings/types';

/**
 * The gateway's query embedder: an Embedder over another that (1) remembers the vectors of recent masked texts —
 * traffic a template serves repeats by definition, and masking makes "order 123" and "order 456" the same text, so
 * most template requests need no model run at all — and (2) coalesces the texts of concurrent requests into one
 * model call (the local ONNX embedder runs one call at a time; a batch of 32 short texts costs little more than one).
 * Vectors are the inner embedder's, bit for bit: the manifest's embedding model is unchanged.
 */
export class QueryEmbedder implements Embedder {
  private readonly cache = new Map<string, Float32Array>();
  private pending: Array<{ text: string; resolve: (v: Float32Array) => void; reject: (e: unknown) => void }> = [];
  private running = false;
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: Embedder,
    private readonly opts: { cacheSize: number; maxBatch: number } = { cacheSize: 10_000, maxBatch: 64 },
  ) {}

  get id(): string {
    return this.inner.id;
  }

  get dims(): number {
    return this.inner.dims;
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    return Promise.all(texts.map((t) => this.one(t)));
  }

  private one(text: string): Promise<Float32Array> {
    const hit = this.cache.get(text);
    if (hit) {
      this.hits++;
      // Refresh its place: the map's order is the eviction order.
      this.cache.delete(text);
      this.cache.set(text, hit);
      return Promise.resolve(hit);
    }
    this.misses++;
    return new Promise((resolve, reject) => {
      this.pending.push({ text, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, this.opts.maxBatch);
        const texts = [...new Set(batch.map((b) => b.text))];
        try {
          const vecs = await this.inner.embed(texts);
          const byText = new Map(texts.map((t, i) => [t, vecs[i]!]));
          for (const [t, v] of byText) this.remember(t, v);
          for (const b of batch) b.resolve(byText.get(b.text)!);
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private remember(text: string, v: Float32Array): void {
    if (this.opts.cacheSize <= 0) return;
    if (this.cache.size >= this.opts.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(text, v);
  }
}
