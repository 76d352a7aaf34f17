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

const textKey = (t: string) => t.trim().toLowerCase().replace(/\s+/g, ' ');

/**
 * Clusters linked by answers: two clusters whose accepted answers are largely the very same texts (their answer
 * distributions overlap by at least half) are one intent split by query clustering, not known-different. A few
 * shared answers are not enough: an impure cluster shares some with several intents and would chain them together.
 * Returns a component id per cluster.
 */
/** Each cluster's accepted texts with the share of its answers each holds. */
function answerDistributions(byCluster: ReadonlyMap<string, ReadonlyArray<LoggedAnswer>>): Map<string, Map<string, number>> {
  const dist = new Map<string, Map<string, number>>();
  for (const [c, answers] of byCluster) {
    const d = new Map<string, number>();
    for (const a of answers) d.set(textKey(a.text), (d.get(textKey(a.text)) ?? 0) + 1 / answers.length);
    dist.set(c, d);
  }
  return dist;
}

/** How much two clusters' answer distributions overlap (0: no text in common, 1: the same texts in the same shares). */
function overlap(dist: ReadonlyMap<string, ReadonlyMap<string, number>>, a: string, b: string): number {
  const x = dist.get(a);
  const y = dist.get(b);
  if (!x || !y) return 0;
  let v = 0;
  for (const [t, share] of x) v += Math.min(share, y.get(t) ?? 0);
  return v;
}

/** A neighbour sharing this much of its accepted texts gives no negatives (it is partly the same intent). */
const MIN_SHARED_FOR_NO_NEGATIVES = 0.1;

function answerComponents(byCluster: ReadonlyMap<string, ReadonlyArray<LoggedAnswer>>): Map<string, string> {
  const dist = answerDistributions(byCluster);
  const holders = new Map<string, Set<string>>();
  for (const [c, d] of dist) for (const t of d.keys()) holders.set(t, (holders.get(t) ?? new Set()).add(c));
  const parent = new Map<string, string>([...byCluster.keys()].map((c) => [c, c]));
  const find = (c: string): string => {
    const p = parent.get(c)!;
    if (p === c) return c;
    const r = find(p);
    parent.set(c, r);
    return r;
  };
  for (const [c, d] of dist) {
    const overlap = new Map<string, number>();
    for (const [t, share] of d) for (const o of holders.get(t)!) if (o > c) overlap.set(o, (overlap.get(o) ?? 0) + Math.min(share, dist.get(o)!.get(t)!));
    for (const [o, v] of overlap) {
      if (v < 0.5) continue;
      const [x, y] = [find(c), find(o)];
      if (x !== y) parent.set(x < y ? y : x, x < y ? x : y);
    }
  }
  return new Map([...byCluster.keys()].map((c) => [c, find(c)]));
}

/**
 * The tenant's own labelled answer pairs, for fitting the judge's calibration:
 * - agree: two accepted answers of one cluster; an edit that only rewords;
 * - disagree: an edit that corrects; a rejected answer against an accepted one of its cluster; an accepted answer
 *   against one of a NEIGHBOURING cluster (hard negatives: the near misses routing and pooling must tell apart).
 *   Clusters that mostly share their accepted answer texts are one intent split across clusters (answerComponents) and give
 *   no negatives to each other: otherwise a teacher's paraphrases, split over two clusters, would be learnt as
 *   disagreeing.
 * Noise is expected (an impure cluster yields some false "agree" pairs); the isotonic fit averages over it.
 */
export function calibrationSamples(data: CalibrationData): CalibrationSample[] {
  const next = random(data.seed ?? 12);
  const k = data.pairsPerCluster ?? 40;
  const byCluster = new Map<string, LoggedAnswer[]>();
  for (const a of data.accepted) byCluster.set(a.cluster, [...(byCluster.get(a.cluster) ?? []), a]);
  const pick = <T>(xs: ReadonlyArray<T>) => xs[Math.floor(next() * xs.length)]!;
  const sample = (a: LoggedAnswer, b: LoggedAnswer, y: 0 | 1, source: string): CalibrationSample => ({
    x: featureVector(pairFeatures(cosine(a.vec, b.vec), a.text, b.text)),
    y,
    source,
  });
  const out: CalibrationSample[] = [];
  const clusters = [...byCluster.keys()].sort();
  const component = answerComponents(byCluster);
  const dist = answerDistributions(byCluster);
  for (const c of clusters) {
    const own = byCluster.get(c)!;
    if (own.length >= 2) {
      for (let i = 0; i < k; i++) {
        const a = pick(own);
        const b = pick(own);
        if (a !== b) out.push(sample(a, b, 1, 'same-cluster'));
      }
    }
    // Known-different only: a neighbour that gave any noticeable share of the same accepted texts is (partly) the same
    // intent, so its answers are no evidence of disagreement; and an identical text never disagrees with itself.
    const others = data
      .neighbours(c)
      .flatMap((o) =>
        component.get(o) === undefined || component.get(o) === component.get(c) || overlap(dist, c, o) >= MIN_SHARED_FOR_NO_NEGATIVES ? [] : byCluster.get(o)!,
      );
    if (others.length) {
      for (let i = 0; i < k; i++) {
        const [a, b] = [pick(own), pick(others)];
        if (textKey(a.text) !== textKey(b.text)) out.push(sample(a, b, 0, 'other-cluster'));
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

/**
 * The tenant's direct evidence of agreement: each edit that only reworded its answer (classifyEdit 'agrees') says
 * that the two texts mean the same, whatever the calibrated similarity reads. Returns a judge over texts that
 * answers 1 for such pairs (either order) and defers to `agree` otherwise. Corrections are left to `agree`: a
 * corrected answer that still reads similar is caught by its slots or its score, never forced to agree.
 */
export function withAgreeingEdits(
  agree: (a: string, b: string) => number,
  edits: ReadonlyArray<{ original: string; edited: string }>,
): (a: string, b: string) => number {
  const same = new Set<string>();
  for (const e of edits) {
    if (classifyEdit(e.original, e.edited) !== 'agrees') continue;
    same.add(`${e.original}\u0000${e.edited}`);
    same.add(`${e.edited}\u0000${e.original}`);
  }
  return (a, b) => (same.has(`${a}\u0000${b}`) ? 1 : agree(a, b));
}
