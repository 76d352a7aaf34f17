import { cosine } from '../embeddings/types';
import type { CalibrationSample } from './calibration';
import { featureVector, pairFeatures, slotConflicts } from './features';

/** An answer of the tenant's log with its embedding, and the cluster its query fell in. */
export interface LoggedAnswer {
  cluster: string;
  text: string;
  vec: Float32Array;
}

/** A user's edit: the teacher's answer and the user's corrected one. */
export interface LoggedEdit {
  original: LoggedAnswer;
  edited: LoggedAnswer;
}

export interface CalibrationData {
  accepted: ReadonlyArray<LoggedAnswer>;
  edits?: ReadonlyArray<LoggedEdit>;
  /** Rejected answers, compared with the accepted answers of their cluster. */
  rejected?: ReadonlyArray<LoggedAnswer>;
  /** A cluster's nearest other clusters (by query centroid): where hard negatives come from. */
  neighbours: (cluster: string) => ReadonlyArray<string>;
  /** Pairs drawn per cluster and per kind (default 40). */
  pairsPerCluster?: number;
  seed?: number;
}

/**
 * An edit is an agreeing rewording when most of its words survive and no slot value changed; a correction when
 * a slot value changed or most of the words did. In between it says nothing either way and is left out.
 * (Word overlap is the only signal here that does not depend on the embedding being calibrated.)
 */
export function classifyEdit(original: string, edited: string): 'agrees' | 'corrects' | 'unclear' {
  if (slotConflicts(original, edited).length) return 'corrects';
  const j = pairFeatures(0, original, edited).tokenJaccard;
  if (j >= 2 / 3) return 'agrees';
  if (j <= 1 / 3) return 'corrects';
  return 'unclear';
}

/** mulberry32: deterministic sampling, so the same log always yields the same calibration. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sameText = (a: string, b: string) => a.trim().toLowerCase().replace(/\s+/g, ' ') === b.trim().toLowerCase().replace(/\s+/g, ' ');

/**
 * The tenant's own labelled answer pairs, for fitting the judge's calibration:
 * - agree: two accepted answers of one cluster; an edit that only rewords;
 * - disagree: an edit that corrects; a rejected answer against an accepted one of its cluster; an accepted answer
 *   against one of a NEIGHBOURING cluster (hard negatives: the near misses routing and pooling must tell apart).
 *   Identical texts in two clusters are one answer split across clusters, not a negative, and are skipped.
 * Noise is expected (an impure cluster yields some false "agree" pairs); the isotonic fit averages over it.
 */
export function calibrationSamples(data: CalibrationData): CalibrationSample[] {
  const next = random(data.seed ?? 12);
  const k = data.pairsPerCluster ?? 40;
  const byCluster = new Map<string, LoggedAnswer[]>();
  for (const a of data.accepted) byCluster.set(a.cluster, [...(byCluster.get(a.cluster) ?? []), a]);
  const pick = <T>(xs: ReadonlyArray<T>) => xs[Math.floor(next() * xs.length)]!;
  const sample = (a: LoggedAnswer, b: LoggedAnswer, y: 0 | 1, source: string): CalibrationSample => ({ x: featureVector(pairFeatures(cosine(a.vec, b.vec), a.text, b.text)), y, source });
  const out: CalibrationSample[] = [];
  const clusters = [...byCluster.keys()].sort();
  for (const c of clusters) {
    const own = byCluster.get(c)!;
    if (own.length >= 2) {
      for (let i = 0; i < k; i++) {
        const a = pick(own);
        const b = pick(own);
        if (a !== b) out.push(sample(a, b, 1, 'same-cluster'));
      }
    }
    const others = data.neighbours(c).flatMap((o) => (o === c ? [] : (byCluster.get(o) ?? [])));
    if (others.length) {
      for (let i = 0; i < k; i++) {
        const a = pick(own);
        const b = pick(others);
        if (!sameText(a.text, b.text)) out.push(sample(a, b, 0, 'other-cluster'));
      }
    }
  }
  for (const e of data.edits ?? []) {
    const kind = classifyEdit(e.original.text, e.edited.text);
    if (kind !== 'unclear') out.push(sample(e.original, e.edited, kind === 'agrees' ? 1 : 0, kind === 'agrees' ? 'agreeing-edit' : 'correcting-edit'));
  }
  for (const r of data.rejected ?? []) {
    const own = byCluster.get(r.cluster);
    if (own?.length) out.push(sample(r, pick(own), 0, 'rejected'));
  }
  return out;
}
