import { createHash } from 'node:crypto';
import type { LabelledExample } from './shared';

/**
 * The issue's realistic log, built deterministically from a labelled data set (labels choose which intents and rows
 * to perturb: this builds the data, the pipeline still never sees a label):
 * - a third of the intents are answered by 4 paraphrases of one answer of the intent (the teacher varies wording);
 * - 5% of accepted answers are users' small rewordings (edits) of the answer they were given.
 */
const unit = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32;

const SWAPS: Array<[RegExp, string]> = [
  [/\byou can\b/gi, 'you may'],
  [/\bhelp\b/g, 'assist'],
  [/\bplease\b/gi, 'kindly'],
  [/\bThank you\b/g, 'Thanks'],
  [/\bcontact\b/g, 'reach out to'],
  [/\binformation\b/g, 'details'],
  [/\bquickly\b/g, 'promptly'],
  [/\bhappy to\b/g, 'glad to'],
  [/\bneed\b/g, 'require'],
  [/\bHandled as\b/g, 'Dealt with as'],
];

/** A small rewording: synonym swaps (or, with none applicable, a closing courtesy), meaning unchanged. */
export function reword(text: string): string {
  let out = text;
  for (const [re, to] of SWAPS) out = out.replace(re, to);
  return out === text ? `${text.trim()} Thanks for your patience.` : out;
}

function sentences(text: string): string[] {
  return (
    text
      .match(/[^.!?]+[.!?]+(\s+|$)|[^.!?]+$/g)
      ?.map((s) => s.trim())
      .filter(Boolean) ?? [text]
  );
}

/** Four paraphrases of one answer: an opener, a closing, sentence order, synonym swaps. */
export function paraphrases(text: string): string[] {
  const s = sentences(text);
  const rotated = s.length >= 3 ? [s[0]!, ...s.slice(2), s[1]!].join(' ') : `${text.trim()} Hope this helps.`;
  return [`Certainly! ${text.trim()}`, `${text.trim()} Let us know if there is anything else.`, rotated, `Thanks for asking. ${reword(text)}`];
}

export interface PerturbedExample extends LabelledExample {
  /** Set when the accepted answer is a user's edit: the teacher's original answer. */
  editedFrom?: string;
}

export function perturb(examples: ReadonlyArray<LabelledExample>): PerturbedExample[] {
  const labels = [...new Set(examples.map((e) => e.label))].sort();
  const paraphrased = new Map<string, string[]>();
  labels.forEach((l, i) => {
    if (i % 3 !== 0) return;
    const base = examples.find((e) => e.label === l)!.answer;
    paraphrased.set(l, paraphrases(base));
  });
  return examples.map((e, i) => {
    const forms = paraphrased.get(e.label);
    const teacher = forms ? forms[Math.floor(unit(`para:${i}`) * 4)]! : e.answer;
    if (unit(`edit:${i}`) < 0.05) return { ...e, answer: reword(teacher), editedFrom: teacher };
    return { ...e, answer: teacher };
  });
}
