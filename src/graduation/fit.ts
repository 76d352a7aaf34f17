/**
 * A check that an answer does not do the opposite of what its queries ask. Replay only proves the answer is the
 * one accepted before; a canned answer can be accepted and still not fit ("how do I unsubscribe?" answered with
 * how to subscribe). Where many of a candidate's queries ask for an undoing action (cancel, unsubscribe, delete,
 * …) and the answer only speaks of the doing one, the reviewer gets a warning. Lexical on purpose: embeddings put
 * "subscribe" and "unsubscribe" next to each other, which is exactly the confusion to catch.
 */

const OPPOSITES: Array<{ undo: RegExp; undoWords: string; doing: RegExp }> = [
  {
    undo: /\b(unsubscrib\w*|opt(?:ing)? out|cancel\w*|stop\w*)\b/,
    undoWords: 'unsubscribe / cancel / stop',
    doing: /\bsubscri\w*|\bsign(?:ing)? up\b|\benter your email\b/,
  },
  { undo: /\b(delet\w*|remov\w*|clos\w*|terminat\w*)\b/, undoWords: 'delete / remove / close', doing: /\b(creat\w*|add\w*|open\w*|sign(?:ing)? up)\b/ },
  { undo: /\b(deactivat\w*|disabl\w*|turn(?:ing)? off)\b/, undoWords: 'deactivate / disable', doing: /\b(activat\w*|enabl\w*|turn(?:ing)? on)\b/ },
];

export function answerFitWarnings(answer: string, queries: ReadonlyArray<string>, opts: { minShare?: number } = {}): string[] {
  const minShare = opts.minShare ?? 0.2;
  if (queries.length === 0) return [];
  const a = answer.toLowerCase();
  const warnings: string[] = [];
  for (const o of OPPOSITES) {
    if (!o.doing.test(a) || o.undo.test(a)) continue;
    const asking = queries.filter((q) => o.undo.test(q.toLowerCase()));
    if (asking.length / queries.length >= minShare) {
      warnings.push(
        `${Math.round((100 * asking.length) / queries.length)}% of its queries ask to ${o.undoWords} (e.g. "${asking[0]}"), but the answer only describes the opposite: check that it fits them`,
      );
    }
  }
  return warnings;
}
