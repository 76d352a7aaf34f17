import { type ScanKernel, createScanKernel } from './simd';

/**
 * Nearest route by cosine, for the router's hot path (synchronous, no allocation per query beyond a small list).
 *
 * Two stages:
 *   1. Prefilter: every route is scored with int8 centroids (per-row scale) against a 15-bit query, by the WebAssembly
 *      SIMD kernel (simd.ts). 10k × 384 is 3.8 MB and ~0.2 ms.
 *   2. Exact re-check: the quantisation error of a score is bounded (below), so every route whose prefilter score
 *      could still beat the best exact cosine found is re-scored exactly in Float32 (f64 accumulation), best first.
 *      The result is then the same route an exact scan returns (ties to the lower index, as a scan does), not a
 *      probable one. Only when more than `maxRerank` routes sit inside the error band (a query far from everything in
 *      a dense manifest) is the re-check cut to the best `maxRerank` by prefilter score; `stats.uncertified` counts it.
 *
 * Error bound. Route values are c = s_c·C + e_c with |e_c| ≤ s_c/2 (C int8, s_c = max|c|/127) and query values
 * q = s_q·Q + e_q with |e_q| ≤ s_q/2 (Q ≤ qMax in magnitude). Then
 *   |q·c − s_q·s_c·(Q·C)| ≤ s_c/2·s_q·‖Q‖₁ + s_q/2·s_c·‖C‖₁ + D·s_q·s_c/4,
 * taken with the largest s_c and s_c·‖C‖₁ over all routes (per query: one number, `band`). For unit 384-d vectors
 * that is ~0.01–0.02 in cosine, so a handful of routes is re-checked for a typical query.
 *
 * Why not IVF or a projection prefilter: both are probabilistic and data-dependent. On near-isotropic data (random
 * centroids, or a tenant with many unrelated intents) an IVF coarse quantiser barely separates lists and needs to
 * probe a large share of them, and a low-dimensional projection keeps too little of each vector; neither can tell
 * when it missed. The int8 scan is linear in routes (~20 ns per 384-d route here), which is fine up to some tens of
 * thousands of routes per tenant; beyond that an IVF stage in front of this one is the next step.
 *
 * Without WebAssembly SIMD the index falls back to an exact Float32 scan in plain JS (~2.5 ms for 10k × 384).
 */

export interface Nearest {
  /** Row of the nearest route. */
  index: number;
  /** Its cosine to the query. */
  similarity: number;
}

export interface NearestIndexOptions {
  /** `auto` (default): SIMD prefilter when available and the index is large enough to gain from it, else exact. */
  kernel?: 'auto' | 'simd' | 'exact';
  /** Most routes re-checked exactly per query (default 512). */
  maxRerank?: number;
}

export interface NearestIndexStats {
  queries: number;
  /** Routes re-scored exactly, summed over queries. */
  reranked: number;
  /** Queries whose error band held more than maxRerank routes (result not guaranteed exact). */
  uncertified: number;
}

/** Below this many values (routes × dims) a plain exact scan is as fast as the prefilter. */
const SIMD_MIN_VALUES = 32 * 1024;
/** Float32 rounding of the scaled int sums and of the cosine; added to the band. */
const BAND_SLACK = 1e-5;

export class NearestIndex {
  readonly kernel: 'simd' | 'exact';
  readonly stats: NearestIndexStats = { queries: 0, reranked: 0, uncertified: 0 };
  private readonly maxRerank: number;
  /** Unit rows, n × dims. */
  private readonly rows: Float32Array;
  private readonly simd: null | {
    kernel: ScanKernel;
    stride: number;
    qPtr: number;
    scalesPtr: number;
    outPtr: number;
    rowsPtr: number;
    query: Int16Array;
    out: Float32Array;
    qMax: number;
    maxScale: number;
    maxScaledL1: number;
  };
  private readonly candidates: Int32Array;

  private constructor(
    readonly size: number,
    readonly dims: number,
    rows: Float32Array,
    opts: NearestIndexOptions,
  ) {
    this.rows = rows;
    this.maxRerank = Math.max(1, opts.maxRerank ?? 512);
    this.candidates = new Int32Array(Math.min(size, this.maxRerank * 4 + 16));
    const want = opts.kernel ?? 'auto';
    this.simd = want === 'exact' || (want === 'auto' && size * dims < SIMD_MIN_VALUES) || size === 0 ? null : buildSimd(rows, size, dims);
    if (want === 'simd' && !this.simd) throw new Error('NearestIndex: WebAssembly SIMD is not available in this runtime');
    this.kernel = this.simd ? 'simd' : 'exact';
  }

  /**
   * An index over `size` vectors of `dims` values, row after row. Rows are scaled to unit length (a zero row never
   * matches); the input is not modified.
   */
  static build(vectors: Float32Array, size: number, dims: number, opts: NearestIndexOptions = {}): NearestIndex {
    if (vectors.length !== size * dims) throw new Error(`NearestIndex: ${vectors.length} values for ${size} × ${dims}`);
    const rows = new Float32Array(vectors);
    for (let i = 0; i < size; i++) {
      const o = i * dims;
      let s = 0;
      for (let d = 0; d < dims; d++) s += rows[o + d]! * rows[o + d]!;
      const norm = Math.sqrt(s);
      if (norm > 0) for (let d = 0; d < dims; d++) rows[o + d]! /= norm;
    }
    return new NearestIndex(size, dims, rows, opts);
  }

  /** The nearest row to `q` by cosine, or null when the index is empty or `q` is zero or not finite. */
  nearest(q: ArrayLike<number>): Nearest | null {
    const qNorm = this.queryNorm(q);
    if (qNorm === null) return null;
    this.stats.queries++;
    if (!this.simd) return this.scan(q, qNorm);
    const s = this.simd;
    const dims = this.dims;

    // Quantise the query to [-qMax, qMax] and scan.
    let qAbs = 0;
    for (let d = 0; d < dims; d++) qAbs = Math.max(qAbs, Math.abs(q[d]!));
    const sq = qAbs / s.qMax;
    let qL1 = 0;
    for (let d = 0; d < dims; d++) {
      const v = Math.round(q[d]! / sq);
      s.query[d] = v;
      qL1 += Math.abs(v);
    }
    s.kernel.scan(s.qPtr, s.rowsPtr, this.size, s.stride, s.scalesPtr, s.outPtr);

    // Prefilter scores are s_q × out[i] ≈ q·c (q not normalised: everything below is in units of |q|).
    const out = s.out;
    const n = this.size;
    let top = 0;
    for (let i = 1; i < n; i++) if (out[i]! > out[top]!) top = i;
    const band = (sq * ((s.maxScale / 2) * qL1 + s.maxScaledL1 / 2 + (dims * s.maxScale) / 4) + BAND_SLACK * qNorm) / sq;
    let best = top;
    let bestDot = this.dot(q, top);
    // Every route whose score + band reaches the best exact dot so far may beat it: re-check those.
    const floor = bestDot / sq - band;
    const cand = this.candidates;
    let m = 0;
    let overflow = false;
    for (let i = 0; i < n; i++) {
      if (out[i]! >= floor && i !== top) {
        if (m === cand.length) {
          overflow = true;
          break;
        }
        cand[m++] = i;
      }
    }
    if (overflow) {
      // A band this wide happens for queries far from every route in a dense manifest: re-check the best maxRerank.
      this.stats.uncertified++;
      m = this.topByScore(out, floor, top);
    } else if (m > this.maxRerank) {
      this.stats.uncertified++;
      m = this.topByScore(out, floor, top);
    }
    // Best prefilter score first, so the best exact dot rises early and the rest are skipped by the bound.
    const order = Array.from(cand.subarray(0, m)).sort((a, b) => out[b]! - out[a]! || a - b);
    let checked = 1;
    for (const i of order) {
      if (out[i]! + band < bestDot / sq) break;
      checked++;
      const dot = this.dot(q, i);
      if (dot > bestDot || (dot === bestDot && i < best)) {
        bestDot = dot;
        best = i;
      }
    }
    this.stats.reranked += checked;
    return { index: best, similarity: bestDot / qNorm };
  }

  /** Exact brute force over every row (the reference the prefilter is tested against; the no-SIMD path). */
  exactNearest(q: ArrayLike<number>): Nearest | null {
    const qNorm = this.queryNorm(q);
    return qNorm === null ? null : this.scan(q, qNorm);
  }

  /** Exact cosine of `q` to row `i`. */
  similarity(q: ArrayLike<number>, i: number): number {
    const qNorm = this.queryNorm(q);
    return qNorm === null ? Number.NaN : this.dot(q, i) / qNorm;
  }

  private queryNorm(q: ArrayLike<number>): number | null {
    if (q.length !== this.dims) throw new Error(`query vector has ${q.length} dims, the manifest's routes ${this.dims}`);
    if (this.size === 0) return null;
    let s = 0;
    for (let d = 0; d < this.dims; d++) s += q[d]! * q[d]!;
    const norm = Math.sqrt(s);
    return norm > 0 && Number.isFinite(norm) ? norm : null;
  }

  private scan(q: ArrayLike<number>, qNorm: number): Nearest {
    let best = 0;
    let bestDot = -Infinity;
    for (let i = 0; i < this.size; i++) {
      const dot = this.dot(q, i);
      if (dot > bestDot) {
        bestDot = dot;
        best = i;
      }
    }
    return { index: best, similarity: bestDot / qNorm };
  }

  private dot(q: ArrayLike<number>, i: number): number {
    const r = this.rows;
    const dims = this.dims;
    const o = i * dims;
    let a0 = 0;
    let a1 = 0;
    let d = 0;
    for (; d + 1 < dims; d += 2) {
      a0 += q[d]! * r[o + d]!;
      a1 += q[d + 1]! * r[o + d + 1]!;
    }
    if (d < dims) a0 += q[d]! * r[o + d]!;
    return a0 + a1;
  }

  /** Fills `candidates` with the maxRerank rows of highest score ≥ floor (other than `top`); returns how many. */
  private topByScore(out: Float32Array, floor: number, top: number): number {
    const k = Math.min(this.maxRerank, this.candidates.length);
    const picked: number[] = [];
    for (let i = 0; i < this.size; i++) if (i !== top && out[i]! >= floor) picked.push(i);
    picked.sort((a, b) => out[b]! - out[a]! || a - b);
    const m = Math.min(k, picked.length);
    for (let j = 0; j < m; j++) this.candidates[j] = picked[j]!;
    return m;
  }
}

function buildSimd(rows: Float32Array, n: number, dims: number): NearestIndex['simd'] {
  const stride = Math.ceil(dims / 16) * 16;
  // The int sums must fit an i32: |Q·C| ≤ 127 · qMax · stride.
  const qMax = Math.min(32767, Math.floor(2_000_000_000 / (127 * stride)));
  const align = (x: number) => Math.ceil(x / 16) * 16;
  const qPtr = 0;
  const scalesPtr = align(qPtr + stride * 2);
  const outPtr = align(scalesPtr + n * 4);
  const rowsPtr = align(outPtr + n * 4);
  const kernel = createScanKernel(rowsPtr + n * stride);
  if (!kernel) return null;
  const buf = kernel.memory.buffer;
  const scales = new Float32Array(buf, scalesPtr, n);
  const q8 = new Int8Array(buf, rowsPtr, n * stride);
  let maxScale = 0;
  let maxScaledL1 = 0;
  for (let i = 0; i < n; i++) {
    const o = i * dims;
    let max = 0;
    for (let d = 0; d < dims; d++) max = Math.max(max, Math.abs(rows[o + d]!));
    // The kernel multiplies by the Float32 scale: use that value in the bound too.
    scales[i] = max / 127;
    const scale = scales[i]!;
    let l1 = 0;
    for (let d = 0; d < dims; d++) {
      const v = scale > 0 ? Math.max(-127, Math.min(127, Math.round(rows[o + d]! / scale))) : 0;
      q8[i * stride + d] = v;
      l1 += Math.abs(v);
    }
    maxScale = Math.max(maxScale, scale);
    maxScaledL1 = Math.max(maxScaledL1, scale * l1);
  }
  return {
    kernel,
    stride,
    qPtr,
    scalesPtr,
    outPtr,
    rowsPtr,
    query: new Int16Array(buf, qPtr, stride),
    out: new Float32Array(buf, outPtr, n),
    qMax,
    maxScale,
    maxScaledL1,
  };
}
