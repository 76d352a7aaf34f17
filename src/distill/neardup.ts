import { fmix32 } from './hash';

/**
 * Near-duplicate detection for the dataset builder (pure, deterministic): word 3-shingles, MinHash signatures,
 * banded LSH for candidates, and the EXACT Jaccard similarity of the shingle sets to decide. LSH only proposes pairs,
 * so there are no false positives; a pair at or above the lowest threshold asked for is missed with a probability of
 * at most 1e-3 by the band choice (1.5e-4 at 0.7 with the defaults, far less above). Before an exact check, pairs
 * whose sizes alone rule the threshold out are skipped, and so are long pairs whose 8-bit MinHash estimate is more
 * than 0.2 below it (4.5 standard deviations: a further ~3e-6 chance of a miss).
 *
 * One pass over the texts in the caller's order (oldest interaction first):
 * - a text whose Jaccard with an earlier KEPT text is >= `removeAt` is removed as a near-duplicate of it;
 * - kept texts whose Jaccard is >= `groupAt` are joined into one group (connected components), so that the split can
 *   put each group on one side as a unit: no pair at or above `groupAt` straddles train and eval.
 */

/** MinHash functions per signature. */
export const MINHASH_K = 128;
/** The chance, at the lowest threshold, that LSH fails to propose a pair that the band choice accepts at most. */
const MAX_MISS = 1e-3;

// ---------------------------------------------------------------------------------------------------------------
// Shingles
// ---------------------------------------------------------------------------------------------------------------

/** Per BMP code unit: 0 not looked at yet, 1 part of a word, 2 not. Surrogates count as word units (emoji, CJK ext). */
const wordClass = new Uint8Array(65536);
const WORD_CHAR = /^[\p{L}\p{N}\p{M}]$/u;

function isWordUnit(c: number): boolean {
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
  let k = wordClass[c]!;
  if (k === 0) {
    k = (c >= 0xd800 && c <= 0xdfff) || WORD_CHAR.test(String.fromCharCode(c)) ? 1 : 2;
    wordClass[c] = k;
  }
  return k === 1;
}

const scratchWords: number[] = [];

/** Order-sensitive hash of three word hashes. */
function shingle3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x27d4eb2f);
  return fmix32(h);
}

/**
 * The word 3-shingles of a text as sorted, distinct 32-bit hashes. Words are maximal runs of letters, digits and
 * marks, lower-cased; punctuation and whitespace only separate them. A text of one or two words has one shingle (its
 * words); a text without words has none.
 */
export function shingles(text: string): Uint32Array {
  const w = scratchWords;
  w.length = 0;
  const s = text.toLowerCase();
  let h = 0x811c9dc5;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isWordUnit(c)) {
      h = Math.imul(h ^ c, 0x01000193);
      inWord = true;
    } else if (inWord) {
      w.push(fmix32(h));
      h = 0x811c9dc5;
      inWord = false;
    }
  }
  if (inWord) w.push(fmix32(h));
  if (w.length === 0) return new Uint32Array(0);
  if (w.length < 3) return Uint32Array.of(shingle3(w[0]!, w[1] ?? 0x5bd1e995, w.length));
  const out = new Uint32Array(w.length - 2);
  for (let i = 0; i < out.length; i++) out[i] = shingle3(w[i]!, w[i + 1]!, w[i + 2]!);
  out.sort();
  let u = 1;
  for (let i = 1; i < out.length; i++) if (out[i] !== out[u - 1]) out[u++] = out[i]!;
  return u === out.length ? out : out.slice(0, u);
}

/** Exact Jaccard similarity of two sorted, distinct hash sets (0 when both are empty). */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  const na = a.length;
  const nb = b.length;
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < na && j < nb) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      inter++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  const union = na + nb - inter;
  return union === 0 ? 0 : inter / union;
}

/** Jaccard similarity of the word 3-shingles of two texts. */
export function textJaccard(a: string, b: string): number {
  return jaccard(shingles(a), shingles(b));
}

// ---------------------------------------------------------------------------------------------------------------
// MinHash and LSH bands
// ---------------------------------------------------------------------------------------------------------------

/**
 * The hash family: h_k(x) = (a_k * x mod 2^32) XOR b_k with odd a_k, a bijection of the 32-bit values, applied to
 * shingle hashes that are already well mixed, and ordered as signed 32-bit integers (any fixed total order works for
 * MinHash; int32 keeps V8 in small-integer arithmetic). Fixed constants, not the dataset seed: the same texts always
 * get the same signatures.
 */
const HA = new Int32Array(MINHASH_K);
const HB = new Int32Array(MINHASH_K);
{
  let state = 0x2545f491;
  const next = () => {
    state = (state + 0x9e3779b9) | 0;
    return fmix32(state) | 0;
  };
  for (let k = 0; k < MINHASH_K; k++) {
    HA[k] = next() | 1;
    HB[k] = next();
  }
}

/**
 * MinHash signature of a shingle set into `sig` (length MINHASH_K). Eight hash functions per pass over the shingles
 * (in registers): about 0.9 ns per shingle and function, a third faster than one at a time. An empty set gets the
 * all-maximum signature.
 */
export function minhash(sh: Uint32Array, sig: Int32Array = new Int32Array(MINHASH_K)): Int32Array {
  const n = sh.length;
  for (let k = 0; k < MINHASH_K; k += 8) {
    const a0 = HA[k]!,
      a1 = HA[k + 1]!,
      a2 = HA[k + 2]!,
      a3 = HA[k + 3]!,
      a4 = HA[k + 4]!,
      a5 = HA[k + 5]!,
      a6 = HA[k + 6]!,
      a7 = HA[k + 7]!;
    const b0 = HB[k]!,
      b1 = HB[k + 1]!,
      b2 = HB[k + 2]!,
      b3 = HB[k + 3]!,
      b4 = HB[k + 4]!,
      b5 = HB[k + 5]!,
      b6 = HB[k + 6]!,
      b7 = HB[k + 7]!;
    let m0 = 0x7fffffff,
      m1 = m0,
      m2 = m0,
      m3 = m0,
      m4 = m0,
      m5 = m0,
      m6 = m0,
      m7 = m0;
    for (let j = 0; j < n; j++) {
      const x = sh[j]! | 0;
      const v0 = Math.imul(a0, x) ^ b0;
      if (v0 < m0) m0 = v0;
      const v1 = Math.imul(a1, x) ^ b1;
      if (v1 < m1) m1 = v1;
      const v2 = Math.imul(a2, x) ^ b2;
      if (v2 < m2) m2 = v2;
      const v3 = Math.imul(a3, x) ^ b3;
      if (v3 < m3) m3 = v3;
      const v4 = Math.imul(a4, x) ^ b4;
      if (v4 < m4) m4 = v4;
      const v5 = Math.imul(a5, x) ^ b5;
      if (v5 < m5) m5 = v5;
      const v6 = Math.imul(a6, x) ^ b6;
      if (v6 < m6) m6 = v6;
      const v7 = Math.imul(a7, x) ^ b7;
      if (v7 < m7) m7 = v7;
    }
    sig[k] = m0;
    sig[k + 1] = m1;
    sig[k + 2] = m2;
    sig[k + 3] = m3;
    sig[k + 4] = m4;
    sig[k + 5] = m5;
    sig[k + 6] = m6;
    sig[k + 7] = m7;
  }
  return sig;
}

/**
 * Share of equal bytes of two 8-bit MinHash signatures (the low byte of each value), corrected for chance (1/256):
 * an estimate of the Jaccard similarity with a standard deviation of about 0.045, four words at a time.
 */
function estimateJaccard(s: Uint32Array, a: number, b: number): number {
  let eq = 0;
  for (let w = 0; w < WORDS; w++) {
    const x = s[a + w]! ^ s[b + w]!;
    // A high bit for each zero byte of x, exactly (no carries across bytes), then counted.
    let z = ~(((x & 0x7f7f7f7f) + 0x7f7f7f7f) | x | 0x7f7f7f7f);
    z = (z >>> 7) & 0x01010101;
    eq += Math.imul(z, 0x01010101) >>> 24;
  }
  return (eq / MINHASH_K - 1 / 256) / (1 - 1 / 256);
}
const WORDS = MINHASH_K / 4;
/** Below `t - ESTIMATE_MARGIN` by the estimate, a pair is not verified (4.5 standard deviations: misses ~3e-6). */
const ESTIMATE_MARGIN = 0.2;
/** Pairs with at least this many shingles in all are estimated before being verified (merging costs more). */
const ESTIMATE_FROM = 128;

/**
 * Bands for a threshold t: the most rows per band (fewest false candidates) such that a pair with Jaccard t shares no
 * band with probability (1 - t^rows)^bands <= 1e-3. 0.9 -> 16 bands of 8; 0.7 -> 32 bands of 4.
 */
export function lshBands(threshold: number): { bands: number; rows: number } {
  for (const rows of [16, 8, 4, 2, 1]) {
    const bands = MINHASH_K / rows;
    if ((1 - threshold ** rows) ** bands <= MAX_MISS) return { bands, rows };
  }
  return { bands: MINHASH_K, rows: 1 };
}

/**
 * Open-addressing table from a band key to the newest node (row * bands + band) with that key. Keys and heads are
 * interleaved in one array, so that a probe costs one cache miss; it grows at 3/4 load.
 */
class BandTable {
  /** [key, head] pairs; head -1: empty slot. */
  private slots: Int32Array;
  private mask: number;
  private size = 0;

  constructor(expected: number) {
    let cap = 1024;
    while (cap * 3 < expected * 4) cap *= 2;
    this.slots = new Int32Array(cap * 2).fill(-1);
    this.mask = cap - 1;
  }

  /** The newest node with this key, or -1. */
  get(key: number): number {
    const { slots, mask } = this;
    for (let s = key & mask; ; s = (s + 1) & mask) {
      const h = slots[2 * s + 1]!;
      if (h === -1 || slots[2 * s] === key) return h;
    }
  }

  /** Makes `node` the newest with this key; returns the previous newest (-1 if none). */
  push(key: number, node: number): number {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    const { slots, mask } = this;
    for (let s = key & mask; ; s = (s + 1) & mask) {
      const h = slots[2 * s + 1]!;
      if (h === -1) {
        slots[2 * s] = key;
        slots[2 * s + 1] = node;
        this.size++;
        return -1;
      }
      if (slots[2 * s] === key) {
        slots[2 * s + 1] = node;
        return h;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    const slots = new Int32Array(cap * 2).fill(-1);
    const mask = cap - 1;
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === -1) continue;
      let t = old[s]! & mask;
      while (slots[2 * t + 1] !== -1) t = (t + 1) & mask;
      slots[2 * t] = old[s]!;
      slots[2 * t + 1] = old[s + 1]!;
    }
    this.slots = slots;
    this.mask = mask;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The pass
// ---------------------------------------------------------------------------------------------------------------

export interface NearDuplicateOptions {
  /** Jaccard at or above which a text is removed as a near-duplicate of an earlier kept one. */
  removeAt: number;
  /** Jaccard at or above which two kept texts are put in the same group. */
  groupAt: number;
}

export interface NearDuplicateResult {
  /** Per text: -1 when kept, else the index of the earlier kept text it near-duplicates. */
  duplicateOf: Int32Array;
  /** Per text: its group (the index of one of its members, the same for all of them) when kept, -1 when removed. */
  group: Int32Array;
  /** Work done: pairs LSH proposed and pairs whose exact Jaccard was computed. */
  stats: { candidates: number; verified: number; bands: number; rows: number };
}

export function findNearDuplicates(texts: ReadonlyArray<string>, opts: NearDuplicateOptions): NearDuplicateResult {
  const n = texts.length;
  const { removeAt, groupAt } = opts;
  const { bands, rows } = lshBands(Math.min(removeAt, groupAt));
  const table = new BandTable(Math.min(n * bands, 1 << 20));
  const next = new Int32Array(n * bands);
  const sets: Uint32Array[] = new Array(n);
  const parent = new Int32Array(n);
  const duplicateOf = new Int32Array(n).fill(-1);
  const stamp = new Int32Array(n).fill(-1);
  const sig = new Int32Array(MINHASH_K);
  // 8-bit signatures of every text, for the estimate that spares merging long sets that cannot reach a threshold.
  const small = new Uint32Array(n * WORDS);
  const keys = new Int32Array(bands);
  const cand: number[] = [];
  const candJ: number[] = [];
  let candidates = 0;
  let verified = 0;

  const find = (x: number): number => {
    while (parent[x] !== x) {
      const p = parent[parent[x]!]!;
      parent[x] = p;
      x = p;
    }
    return x;
  };
  // Size filter: J(A, B) <= min/max, so a pair whose sizes are too far apart cannot reach t. Long pairs are also
  // estimated from their 8-bit signatures first.
  const worthVerifying = (i: number, j: number, t: number) => {
    const a = sets[i]!.length;
    const b = sets[j]!.length;
    if (a < b ? a < t * b - 1e-9 : b < t * a - 1e-9) return false;
    return a + b < ESTIMATE_FROM || estimateJaccard(small, i * WORDS, j * WORDS) >= t - ESTIMATE_MARGIN;
  };

  for (let i = 0; i < n; i++) {
    parent[i] = i;
    const sh = shingles(texts[i]!);
    sets[i] = sh;
    if (sh.length === 0) continue; // no words: never similar to anything (exact duplicates are found elsewhere)
    minhash(sh, sig);
    for (let w = 0, o = i * WORDS; w < WORDS; w++) {
      const k = w * 4;
      small[o + w] = ((sig[k]! & 0xff) | ((sig[k + 1]! & 0xff) << 8) | ((sig[k + 2]! & 0xff) << 16) | ((sig[k + 3]! & 0xff) << 24)) >>> 0;
    }
    for (let b = 0; b < bands; b++) {
      let h = Math.imul(b + 1, 0x9e3779b9);
      for (let r = b * rows, e = r + rows; r < e; r++) h = Math.imul(h ^ sig[r]!, 0x01000193) ^ (h >>> 15);
      keys[b] = fmix32(h) | 0;
    }
    // Candidates: every kept text sharing a band.
    cand.length = 0;
    for (let b = 0; b < bands; b++) {
      for (let node = table.get(keys[b]!); node !== -1; node = next[node]!) {
        const j = (node / bands) | 0;
        if (stamp[j] === i) continue;
        stamp[j] = i;
        cand.push(j);
      }
    }
    candidates += cand.length;
    // Removal: a near-duplicate of any kept text.
    candJ.length = cand.length;
    let dup = -1;
    for (let c = 0; c < cand.length; c++) {
      const j = cand[c]!;
      candJ[c] = -1;
      if (!worthVerifying(i, j, removeAt)) continue;
      const jac = jaccard(sh, sets[j]!);
      verified++;
      candJ[c] = jac;
      if (jac >= removeAt) {
        dup = j;
        break;
      }
    }
    if (dup >= 0) {
      duplicateOf[i] = dup;
      sets[i] = EMPTY; // not needed any more
      continue;
    }
    // Grouping: join the groups of similar kept texts (a pair already in one group needs no check).
    for (let c = 0; c < cand.length; c++) {
      const j = cand[c]!;
      if (find(j) === find(i)) continue;
      let jac = candJ[c]!;
      if (jac < 0) {
        if (!worthVerifying(i, j, groupAt)) continue;
        jac = jaccard(sh, sets[j]!);
        verified++;
      }
      if (jac >= groupAt) parent[find(i)] = find(j);
    }
    for (let b = 0; b < bands; b++) {
      const node = i * bands + b;
      next[node] = table.push(keys[b]!, node);
    }
  }
  const group = new Int32Array(n);
  for (let i = 0; i < n; i++) group[i] = duplicateOf[i] === -1 ? find(i) : -1;
  return { duplicateOf, group, stats: { candidates, verified, bands, rows } };
}

const EMPTY = new Uint32Array(0);
