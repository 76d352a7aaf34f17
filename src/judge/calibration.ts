import { createHash } from 'node:crypto';
import { FEATURE_NAMES } from './features';

/** One labelled pair of the tenant's own answers: features and whether they agree in meaning (1) or not (0). */
export interface CalibrationSample {
  x: number[];
  y: 0 | 1;
  /** Where the label came from (same-cluster, agreeing-edit, correcting-edit, rejected, other-cluster), for evidence. */
  source?: string;
}

/**
 * A fitted calibration: a logistic score over the features (weights kept >= 0, so more similar never means less
 * likely to agree), then isotonic regression of the labels on that score, so the output reads as P(agree).
 * JSON-serialisable: it is evidence, stored beside the promotions it decided.
 */
export interface Calibration {
  features: string[];
  weights: number[];
  bias: number;
  /** Isotonic steps: score thresholds (ascending) and the calibrated probability from each threshold on. */
  steps: { score: number[]; p: number[] };
  counts: { positives: number; negatives: number; bySource: Record<string, number> };
  /** Ranking quality on the fitting pairs (area under the ROC curve of the score). */
  auc: number;
  /** Content hash: names this calibration in every judgement's evidence. */
  id: string;
}

export interface FitOptions {
  /** L2 penalty on the weights (default 1e-3): keeps a separable tenant's weights finite. */
  l2?: number;
  iterations?: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function linear(w: number[], b: number, x: number[]): number {
  let z = b;
  for (let j = 0; j < w.length; j++) z += w[j]! * x[j]!;
  return z;
}

/**
 * Fits the calibration on a tenant's pairs. Classes are weighted to balance, so P(agree) is read at an even prior:
 * the sampled ratio of positive to negative pairs is an artefact of sampling, and an even prior is the cautious one
 * where promotion replays (pairs from one cluster, most of which agree).
 */
export function fitCalibration(samples: ReadonlyArray<CalibrationSample>, opts: FitOptions = {}): Calibration {
  const pos = samples.filter((s) => s.y === 1).length;
  const neg = samples.length - pos;
  if (pos === 0 || neg === 0)
    throw new Error(
      `fitCalibration: need agreeing and disagreeing pairs; got ${pos} agreeing, ${neg} disagreeing (a tenant needs at least two clusters with accepted answers)`,
    );
  const d = samples[0]!.x.length;
  const wPos = samples.length / (2 * pos);
  const wNeg = samples.length / (2 * neg);
  const l2 = opts.l2 ?? 1e-3;
  const w = new Array<number>(d).fill(0);
  let b = 0;
  // Projected gradient descent with a decaying step: small, convex, deterministic; d is a handful of features.
  const iters = opts.iterations ?? 400;
  for (let it = 0; it < iters; it++) {
    const gw = new Array<number>(d).fill(0);
    let gb = 0;
    let wsum = 0;
    for (const s of samples) {
      const sw = s.y ? wPos : wNeg;
      const r = sw * (sigmoid(linear(w, b, s.x)) - s.y);
      for (let j = 0; j < d; j++) gw[j]! += r * s.x[j]!;
      gb += r;
      wsum += sw;
    }
    const lr = 4 / (1 + it / 50);
    for (let j = 0; j < d; j++) w[j] = Math.max(0, w[j]! - lr * (gw[j]! / wsum + l2 * w[j]!));
    b -= lr * (gb / wsum);
  }

  // Isotonic regression (pool adjacent violators) of the labels on the score, classes balanced as above.
  const scored = samples.map((s) => ({ z: linear(w, b, s.x), y: s.y, w: s.y ? wPos : wNeg })).sort((a, c) => a.z - c.z);
  const blocks: Array<{ z: number; sy: number; sw: number }> = [];
  for (const s of scored) {
    blocks.push({ z: s.z, sy: s.y * s.w, sw: s.w });
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!;
      const prev = blocks[blocks.length - 2]!;
      if (prev.sy / prev.sw < last.sy / last.sw) break;
      prev.sy += last.sy;
      prev.sw += last.sw;
      blocks.pop();
    }
  }
  // Half a pseudo-pair each way per block: no block claims certainty (0 or 1) from a handful of pairs.
  const steps = { score: blocks.map((k) => k.z), p: blocks.map((k) => (k.sy + 0.5) / (k.sw + 1)) };
  for (let i = 1; i < steps.p.length; i++) steps.p[i] = Math.max(steps.p[i]!, steps.p[i - 1]!);

  const bySource: Record<string, number> = {};
  for (const s of samples) if (s.source) bySource[s.source] = (bySource[s.source] ?? 0) + 1;
  const body = { features: [...FEATURE_NAMES].slice(0, d), weights: w, bias: b, steps, counts: { positives: pos, negatives: neg, bySource }, auc: auc(scored) };
  return { ...body, id: `cal-${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 12)}` };
}

/**
 * The judge of a tenant with nothing to calibrate on yet (one cluster: no disagreeing pairs): every score maps to
 * P(agree) 0, so only identical answers agree (judgeEmbedded answers those itself). Cautious by construction.
 */
export function identicalOnlyCalibration(counts: Calibration['counts'] = { positives: 0, negatives: 0, bySource: {} }): Calibration {
  return { features: [...FEATURE_NAMES], weights: FEATURE_NAMES.map(() => 0), bias: 0, steps: { score: [0], p: [0] }, counts, auc: 0.5, id: 'identical-only' };
}

/** Calibrated P(agree) of a feature vector: the isotonic step at its score (the first step below the lowest score). */
export function calibratedProbability(c: Calibration, x: number[]): number {
  const z = linear(c.weights, c.bias, x);
  const s = c.steps.score;
  let lo = 0;
  let hi = s.length - 1;
  if (z < s[0]!) return c.steps.p[0]!;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (s[mid]! <= z) lo = mid;
    else hi = mid - 1;
  }
  return c.steps.p[lo]!;
}

function auc(scored: ReadonlyArray<{ z: number; y: number }>): number {
  // Mann-Whitney U over the sorted scores, ties counted half.
  let pos = 0;
  let neg = 0;
  let u = 0;
  let i = 0;
  let negBelow = 0;
  while (i < scored.length) {
    let j = i;
    let p = 0;
    let n = 0;
    while (j < scored.length && scored[j]!.z === scored[i]!.z) {
      if (scored[j]!.y) p++;
      else n++;
      j++;
    }
    u += p * (negBelow + n / 2);
    negBelow += n;
    pos += p;
    neg += n;
    i = j;
  }
  return pos && neg ? u / (pos * neg) : 0.5;
}
