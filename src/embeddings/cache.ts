import { createHash } from 'node:crypto';
import os from 'node:os';
import type { Db } from '../db/client';
import { cachedVectors, saveVectors } from './store';
import type { Embedder } from './types';

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Float32 vector -> bytes, little-endian (the `embeddings.vector` column format). */
export function vectorToBuffer(v: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i]!, i * 4);
  return buf;
}

/** Little-endian bytes -> Float32 vector (a copy, aligned). */
export function bufferToVector(b: Uint8Array): Float32Array {
  if (b.byteLength % 4 !== 0) throw new Error(`embedding vector: ${b.byteLength} bytes is not a whole number of float32`);
  if (LITTLE_ENDIAN) return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const v = new Float32Array(b.byteLength / 4);
  for (let i = 0; i < v.length; i++) v[i] = view.getFloat32(i * 4, true);
  return v;
}

/** Short names for vectorToBuffer / bufferToVector (also used for centroids and vector blobs). */
export const toBytes = vectorToBuffer;
export const fromBytes = bufferToVector;

/** The cache key of a text: sha256 of its UTF-8 bytes, hex. The text is embedded exactly as given. */
export function textHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface EmbedWithCacheOptions {
  /** Hashes per cache lookup query (default 2000). */
  readChunk?: number;
  /** Texts per embedder call; each call's vectors are written before the next, so a crash loses little (default 1024). */
  embedChunk?: number;
  /** Rows per INSERT (default 1000). */
  writeChunk?: number;
}

export interface EmbedWithCacheStats {
  texts: number;
  unique: number;
  cached: number;
  embedded: number;
}

/**
 * Vectors for `texts` in input order, with the `embeddings` table as a cache keyed by (embedder.id, sha256(text)):
 * duplicates in the input are embedded once, texts already cached are not embedded again, and new vectors are
 * written back (ON CONFLICT DO NOTHING, so concurrent callers embedding the same text are harmless).
 */
export async function embedWithCache(db: Db, embedder: Embedder, texts: string[], opts: EmbedWithCacheOptions = {}): Promise<Float32Array[]> {
  return (await embedWithCacheStats(db, embedder, texts, opts)).vectors;
}

/** embedWithCache, with counts of what was found and what was embedded. */
export async function embedWithCacheStats(
  db: Db,
  embedder: Embedder,
  texts: string[],
  opts: EmbedWithCacheOptions = {},
): Promise<{ vectors: Float32Array[]; stats: EmbedWithCacheStats }> {
  const readChunk = Math.max(1, opts.readChunk ?? 2000);
  const embedChunk = Math.max(1, opts.embedChunk ?? 1024);
  const writeChunk = Math.max(1, opts.writeChunk ?? 1000);
  const model = embedder.id;

  // unique texts by hash, first occurrence order
  const hashes = texts.map(textHash);
  const uniqueText = new Map<string, string>();
  hashes.forEach((h, i) => {
    if (!uniqueText.has(h)) uniqueText.set(h, texts[i]!);
  });
  const unique = [...uniqueText.keys()];

  const found = new Map<string, Float32Array>();
  for (let i = 0; i < unique.length; i += readChunk) {
    const chunk = unique.slice(i, i + readChunk);
    const rows = await cachedVectors(db, model, chunk);
    for (const r of rows) {
      const v = bufferToVector(r.vector);
      if (v.length !== r.dims) throw new Error(`embeddings cache: row (${model}, ${r.textHash}) says ${r.dims} dims but holds ${v.length}`);
      if (embedder.dims && v.length !== embedder.dims) {
        throw new Error(
          `embeddings cache: model ${model} has cached vectors of ${v.length} dims but the embedder gives ${embedder.dims}; use a different embedder id`,
        );
      }
      found.set(r.textHash, v);
    }
  }

  const cached = found.size;
  const misses = unique.filter((h) => !found.has(h));
  for (let i = 0; i < misses.length; i += embedChunk) {
    const chunk = misses.slice(i, i + embedChunk);
    const vectors = await embedder.embed(chunk.map((h) => uniqueText.get(h)!));
    if (vectors.length !== chunk.length) throw new Error(`embedder ${model} returned ${vectors.length} vectors for ${chunk.length} texts`);
    const rows = chunk.map((h, j) => {
      const v = vectors[j]!;
      found.set(h, v);
      return { model, textHash: h, dims: v.length, vector: vectorToBuffer(v) };
    });
    for (let k = 0; k < rows.length; k += writeChunk) {
      await saveVectors(db, rows.slice(k, k + writeChunk));
    }
  }

  return {
    vectors: hashes.map((h) => found.get(h)!),
    stats: { texts: texts.length, unique: unique.length, cached, embedded: misses.length },
  };
}
