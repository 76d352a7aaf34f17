import { createHash } from 'node:crypto';
import type { Embedder } from '../embeddings/types';
import { sealManifest } from '../serving/manifest-hash';
import type { Manifest, ManifestRoute } from '../serving/manifest';

/**
 * Synthetic manifests and a deterministic embedder, for the router's tests and benchmark (no model, no network).
 */

/** Seeded PRNG (mulberry32) with a standard normal draw. */
export function rng(seed: number): { next: () => number; gauss: () => number } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(next() || 1e-12)) * Math.cos(2 * Math.PI * next());
  return { next, gauss };
}

export function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

export function randomUnit(dims: number, r: { gauss: () => number }): Float32Array {
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) v[i] = r.gauss();
  return unit(v);
}

/** A unit vector whose cosine to the unit vector `c` is exactly `cos` (in exact arithmetic): c·cos + noise·sin. */
export function near(c: Float32Array, cos: number, r: { gauss: () => number }): Float32Array {
  const g = randomUnit(c.length, r);
  let dot = 0;
  for (let i = 0; i < c.length; i++) dot += g[i]! * c[i]!;
  for (let i = 0; i < c.length; i++) g[i]! -= dot * c[i]!; // orthogonal to c
  unit(g);
  const s = Math.sqrt(Math.max(0, 1 - cos * cos));
  const q = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) q[i] = cos * c[i]! + s * g[i]!;
  return unit(q);
}

export function toBase64(v: Float32Array): string {
  const b = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, i * 4);
  return b.toString('base64');
}

/**
 * Bag-of-words embedder: every word (placeholders like `<id>` included) is a fixed pseudo-random vector derived from
 * its hash; a text is the normalised sum. Same words, same vector; shared words, high cosine.
 */
export class HashingEmbedder implements Embedder {
  readonly id: string;
  calls = 0;
  constructor(
    readonly dims = 64,
    id = 'test:hashing',
  ) {
    this.id = id;
  }

  vector(text: string): Float32Array {
    const v = new Float32Array(this.dims);
    for (const w of text.toLowerCase().match(/<[a-z_]+>|[\p{L}\p{N}]+/gu) ?? []) {
      const seed = createHash('sha256').update(w).digest().readUInt32LE(0);
      const r = rng(seed);
      for (let i = 0; i < this.dims; i++) v[i]! += r.gauss();
    }
    return unit(v);
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    this.calls++;
    return texts.map((t) => this.vector(t));
  }
}

export interface SyntheticRoute extends Omit<ManifestRoute, 'recognise' | 'evidence' | 'share' | 'label'> {
  centroid: Float32Array;
  threshold?: number;
  keywords?: { all?: string[]; none?: string[] };
  label?: string;
}

/** A sealed manifest (signed when a key is given) for the routes given. */
export function syntheticManifest(opts: {
  tenant?: string;
  version?: number;
  previousVersion?: number | null;
  model?: string;
  dims: number;
  routes: SyntheticRoute[];
  hmacKey?: string;
}): Manifest {
  const version = opts.version ?? 1;
  return sealManifest(
    {
      schema: 'distillery.manifest/v1',
      tenant: opts.tenant ?? 'acme',
      version,
      previousVersion: opts.previousVersion === undefined ? (version > 1 ? version - 1 : null) : opts.previousVersion,
      createdAt: '2026-11-01T00:00:00.000Z',
      embedding: { model: opts.model ?? 'test:hashing', dims: opts.dims, normalisation: 'distillery-mask-v1' },
      fallback: { tier: 'frontier', model: 'gpt-4o' },
      models: { cheap: 'gpt-4o-mini', frontier: 'gpt-4o' },
      routes: opts.routes.map((r) => ({
        id: r.id,
        label: r.label ?? r.id,
        recognise: { centroid: toBase64(r.centroid), threshold: r.threshold ?? 0.8, ...(r.keywords ? { keywords: r.keywords } : {}) },
        tier: r.tier,
        target: r.target,
        evidence: { support: 10 },
        share: 0.01,
      })),
      provenance: { runId: 'synthetic' },
    },
    opts.hmacKey,
  );
}

/** `n` routes with random unit centroids (cheap tier), for index benchmarks. */
export function randomRoutes(n: number, dims: number, seed = 1): { routes: SyntheticRoute[]; centroids: Float32Array[] } {
  const r = rng(seed);
  const centroids = Array.from({ length: n }, () => randomUnit(dims, r));
  const routes = centroids.map((centroid, i) => ({
    id: `r${String(i).padStart(6, '0')}`,
    centroid,
    tier: 'cheap' as const,
    target: { model: 'gpt-4o-mini' },
    threshold: 0.7,
  }));
  return { routes, centroids };
}
