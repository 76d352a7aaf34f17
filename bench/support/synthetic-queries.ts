/**
 * Synthetic query traffic for the clustering benchmarks, built from the shared data sets' real queries: every
 * variant is a real query plus a letter suffix (digits would be masked by normalizeQuery and collapse the
 * variants), and its vector is the real query's vector plus Gaussian paraphrase noise. Everything derives from the
 * variant's index, so the benchmark and a separate worker process rebuild the same texts and vectors.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dedupKey } from '../../src/clustering/dedup';
import { loadSharedDataset } from '../../src/datasets/shared';
import { normalizeQuery } from '../../src/serving/normalize';
import type { Embedder } from '../../src/embeddings/types';

export function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32);
}

/** The distinct normalised real queries of banking77, hwu64 and bitext v2, with their source labels. */
export function baseQueries(): { texts: string[]; labels: string[] } {
  const texts: string[] = [];
  const labels: string[] = [];
  const seen = new Set<string>();
  for (const name of ['banking77', 'hwu64', 'bitext-v2'] as const) {
    for (const ex of loadSharedDataset(name)) {
      const n = normalizeQuery(ex.query);
      const key = dedupKey(n);
      if (seen.has(key)) continue;
      seen.add(key);
      texts.push(n.text);
      labels.push(`${name}:${ex.label}`);
    }
  }
  return { texts, labels };
}

/** The base vectors, embedded once and kept in a file under the temp directory (keyed by model and texts). */
export async function baseVectors(
  texts: string[],
  embedder: () => Promise<Embedder>,
  id: string,
): Promise<{ file: string; vectors: Float32Array; dims: number }> {
  const key = createHash('sha256').update(id).update(texts.join('\n')).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `distillery-bench-base-${key}.f32`);
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const vectors = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    return { file, vectors, dims: vectors.length / texts.length };
  }
  const model = await embedder();
  const vectors = new Float32Array(texts.length * model.dims);
  for (let i = 0; i < texts.length; i += 256) (await model.embed(texts.slice(i, i + 256))).forEach((v, j) => vectors.set(v, (i + j) * model.dims));
  writeFileSync(file, Buffer.from(vectors.buffer));
  return { file, vectors, dims: model.dims };
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const PREFIX = 'zq';

/** The letter suffix that names variant i (a word of its own; "zq" keeps it apart from real words). */
export function suffix(i: number): string {
  let s = '';
  do {
    s = LETTERS[i % 26] + s;
    i = Math.floor(i / 26);
  } while (i > 0);
  return PREFIX + s;
}

/** The variant index named by the last word of a text, or -1. */
export function variantOf(text: string): number {
  const word = text.slice(text.lastIndexOf(' ') + 1);
  if (!word.startsWith(PREFIX) || word.length < 3) return -1;
  let i = 0;
  for (const ch of word.slice(PREFIX.length)) {
    const d = LETTERS.indexOf(ch);
    if (d < 0) return -1;
    i = i * 26 + d;
  }
  return i;
}

/** Which real query variant i paraphrases (a hash of i, so it needs no table). */
export function sourceOf(i: number, bases: number): number {
  return Math.floor(rng(Math.imul(i + 1, 2654435761))() * bases);
}

export const variantText = (baseTexts: string[], i: number) => `${baseTexts[sourceOf(i, baseTexts.length)]} ${suffix(i)}`;

/** Variant i's vector: its source's vector plus Gaussian noise of relative size `noise`, renormalised. */
export function variantVector(base: Float32Array, dims: number, i: number, noise: number): Float32Array {
  const src = sourceOf(i, base.length / dims);
  const r = rng(Math.imul(i + 7, 40503) ^ 0x5bd1e995);
  const sigma = noise / Math.sqrt(dims);
  const v = new Float32Array(dims);
  let norm = 0;
  for (let j = 0; j < dims; j++) {
    const g = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
    norm += (v[j] = base[src * dims + j]! + sigma * g) ** 2;
  }
  norm = Math.sqrt(norm);
  for (let j = 0; j < dims; j++) v[j]! /= norm;
  return v;
}

/**
 * The embedder a benchmark worker uses: it answers each variant text with the variant's synthetic vector, so the
 * clustering path is timed without the real model's speed (bench/embeddings.ts measures that).
 */
export function syntheticEmbedder(base: Float32Array, dims: number, noise: number): Embedder {
  return {
    id: `bench:synthetic-${noise}`,
    dims,
    async embed(texts) {
      return texts.map((t) => {
        const i = variantOf(t);
        if (i < 0) throw new Error(`bench embedder: "${t.slice(0, 80)}" is not a synthetic variant (no ${PREFIX}… suffix)`);
        return variantVector(base, dims, i, noise);
      });
    },
  };
}

/** Zipf-like traffic over `distinct` variants, `traffic` occurrences in all (as bench/cluster.ts spreads it). */
export function zipfCounts(distinct: number, traffic: number, seed = 42): Uint32Array {
  const r = rng(seed);
  const counts = new Uint32Array(distinct).fill(1);
  for (let extra = traffic - distinct; extra > 0; extra--) counts[Math.floor(distinct * r() ** 3)]!++;
  return counts;
}
