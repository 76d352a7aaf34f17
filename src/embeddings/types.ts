/**
 * Something that turns texts into vectors. Implementations: LocalOnnxEmbedder (all-MiniLM-L6-v2 in-process, no
 * network) and OpenAIEmbedder (any OpenAI-compatible /v1/embeddings endpoint). Use them through embedWithCache
 * (cache.ts) so that no text is embedded twice.
 */
export interface Embedder {
  /**
   * The model id including its provider, e.g. `local:all-MiniLM-L6-v2` or `openai:text-embedding-3-small`. It is
   * the cache key's `model`: two embedders with the same id must produce interchangeable vectors (a quantised
   * variant of a model is a different id).
   */
  readonly id: string;
  /** Vector length; 0 until known for providers that learn it from their first response. */
  readonly dims: number;
  /** One L2-normalised vector per text, in input order. */
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** Scales `v` in place to unit L2 norm (a zero vector stays zero) and returns it. */
export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n > 1e-12) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** Cosine similarity of two vectors (not assumed normalised). */
export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`cosine: length mismatch ${a.length} vs ${b.length}`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / (Math.sqrt(na * nb) || 1);
}
