import { normalizeQuery } from '../serving/normalize';
import type { SlotConflict } from './types';

/**
 * Cheap, explainable features of an answer pair besides the embedding cosine. Each one rises with agreement, so a
 * calibration with non-negative weights stays monotone in every feature.
 */
export interface PairFeatures {
  cosine: number;
  /** Jaccard of the answers' word sets. */
  tokenJaccard: number;
  /** Shorter answer's word count over the longer's: a paraphrase keeps its length, a different answer often not. */
  lengthRatio: number;
  /** Jaccard of literal placeholders (`{{Order Number}}`, `<id>`): answers of one intent refer to the same fields. */
  placeholderJaccard: number;
  /**
   * Share of the shorter answer's word bigrams that the longer one also has: one answer says all the other says,
   * in the same order (an added greeting or closing, sentences moved), which word overlap alone cannot tell from two
   * answers of different intents sharing boilerplate.
   */
  bigramContainment: number;
}

export const FEATURE_NAMES = ['cosine', 'tokenJaccard', 'lengthRatio', 'placeholderJaccard', 'bigramContainment'] as const;

export function featureVector(f: PairFeatures): number[] {
  return FEATURE_NAMES.map((k) => f[k]);
}

const WORD = /[\p{L}\p{N}]+/gu;
const PLACEHOLDER = /\{\{[^{}]{1,60}\}\}|<[a-z_]{2,20}>/g;

const words = (text: string) => text.toLowerCase().match(WORD) ?? [];

function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

/** Share of the smaller set inside the larger (1 when both are empty). */
function containment(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  if (small.size === 0) return large.size === 0 ? 1 : 0;
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / small.size;
}

/** What the features need of one answer, computed once: families and replay score the same answer many times. */
export interface PreparedText {
  text: string;
  words: Set<string>;
  bigrams: Set<string>;
  wordCount: number;
  placeholders: Set<string>;
}

export function prepareText(text: string): PreparedText {
  const w = words(text);
  const bigrams = new Set(w.slice(1).map((x, i) => `${w[i]} ${x}`));
  return { text, words: new Set(w), bigrams, wordCount: w.length, placeholders: new Set(text.match(PLACEHOLDER) ?? []) };
}

export function pairFeatures(cosine: number, candidate: string | PreparedText, reference: string | PreparedText): PairFeatures {
  const a = typeof candidate === 'string' ? prepareText(candidate) : candidate;
  const b = typeof reference === 'string' ? prepareText(reference) : reference;
  const la = a.wordCount;
  const lb = b.wordCount;
  return {
    cosine,
    tokenJaccard: jaccard(a.words, b.words),
    lengthRatio: la === 0 && lb === 0 ? 1 : Math.min(la, lb) / Math.max(la, lb, 1),
    placeholderJaccard: jaccard(a.placeholders, b.placeholders),
    bigramContainment: containment(a.bigrams, b.bigrams),
  };
}

/**
 * The volatile values an answer carries (ids, numbers, emails, dates, money, ...), found by the same masking rules as
 * queries, by type. Values compare case- and space-insensitively; names are not masked (answers greet people).
 */
export function answerSlotValues(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of normalizeQuery(text, { maskNames: false }).slots) {
    const v = s.value.toLowerCase().replace(/\s+/g, ' ').trim();
    out.set(s.type, [...(out.get(s.type) ?? []), v]);
  }
  for (const v of out.values()) v.sort();
  return out;
}

/**
 * Slots compare exactly: where both answers carry values of one type and those values differ, the answers disagree
 * however similar the text ("refund of $20" vs "refund of $200"). A value only one side mentions is no conflict: a
 * constant answer may simply not repeat the order number, and a reworded list may drop its step "3".
 */
export function slotConflicts(candidate: string | Map<string, string[]>, reference: string | Map<string, string[]>): SlotConflict[] {
  const a = typeof candidate === 'string' ? answerSlotValues(candidate) : candidate;
  const b = typeof reference === 'string' ? answerSlotValues(reference) : reference;
  const out: SlotConflict[] = [];
  for (const [type, va] of a) {
    const vb = b.get(type);
    if (!vb) continue;
    // Each side has a value the other lacks: a different value, not one answer saying a little more than the other.
    const sa = new Set(va);
    const sb = new Set(vb);
    if (va.some((v) => !sb.has(v)) && vb.some((v) => !sa.has(v))) out.push({ type, candidate: va, reference: vb });
  }
  return out;
}

/** The same answer once case, whitespace and trailing punctuation are set aside: agreement needs no judging. */
export function sameAnswer(a: string, b: string): boolean {
  const n = (t: string) =>
    t
      .normalize('NFKC')
      .toLowerCase()
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/[\s.!?]+$/, '');
  return n(a) === n(b);
}
