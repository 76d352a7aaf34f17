/**
 * Answer normalisation: when two answers count as the same. One rule for graduation's replay, the distillation gate
 * and the publisher's savings replay, so "agrees" means the same thing wherever a served answer is compared.
 */

/** Answers equal once case, whitespace, quotes and trailing punctuation are set aside. */
export function normaliseAnswer(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u02bc`]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[\s.!?,;:]+$/, '');
}
