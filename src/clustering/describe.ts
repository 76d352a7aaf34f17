/**
 * Human-readable descriptions of clusters: keywords by class-based TF-IDF (a term's weight in the cluster against
 * how many clusters use it, as BERTopic does), the most representative queries (frequent and close to the
 * centroid), and a label made of them. Pure: texts, weights, assignment and similarities in, descriptions out.
 */
export interface ClusterDescription {
  keywords: string[];
  label: string;
  representatives: Array<{ text: string; count: number }>;
}

const STOPWORDS = new Set(
  `a about above after again against all am an and any are as at be because been before being below between both but by can could did do does doing down during each few for from further had has have having he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours ourselves out over own same she should so some such than that the their theirs them themselves then there these they this those through to too under until up very was we were what when where which while who whom why will with would you your yours yourself yourselves want need please help can't cannot don't i'm i've hi hello hey thanks thank`.split(
    /\s+/,
  ),
);

export function tokenize(text: string): string[] {
  return (text.toLowerCase().match(/<[a-z]+>|[\p{L}\p{N}][\p{L}\p{N}'’-]*/gu) ?? []).filter((t) => !t.startsWith('<') && !STOPWORDS.has(t) && t.length > 1);
}

export function describeClusters(
  texts: string[],
  weights: ArrayLike<number>,
  assignment: Int32Array,
  similarity: ArrayLike<number>,
  k: number,
  opts: { keywords?: number; representatives?: number } = {},
): ClusterDescription[] {
  const nKeywords = opts.keywords ?? 5;
  const nReps = opts.representatives ?? 5;
  const tf: Array<Map<string, number>> = Array.from({ length: k }, () => new Map());
  const df = new Map<string, number>();
  const total = new Float64Array(k);
  for (let q = 0; q < texts.length; q++) {
    const c = assignment[q]!;
    if (c < 0) continue;
    for (const t of tokenize(texts[q]!)) {
      tf[c]!.set(t, (tf[c]!.get(t) ?? 0) + weights[q]!);
      total[c]! += weights[q]!;
    }
  }
  for (const m of tf) for (const t of m.keys()) df.set(t, (df.get(t) ?? 0) + 1);
  const reps: Array<Array<{ q: number; score: number }>> = Array.from({ length: k }, () => []);
  for (let q = 0; q < texts.length; q++) {
    const c = assignment[q]!;
    if (c >= 0) reps[c]!.push({ q, score: weights[q]! * similarity[q]! ** 4 });
  }
  return tf.map((m, c) => {
    const keywords = [...m.entries()]
      .map(([t, f]) => ({ t, score: (f / (total[c]! || 1)) * Math.log(1 + k / df.get(t)!) }))
      .sort((a, b) => b.score - a.score || a.t.localeCompare(b.t))
      .slice(0, nKeywords)
      .map((x) => x.t);
    const representatives = reps[c]!.sort((a, b) => b.score - a.score || a.q - b.q)
      .slice(0, nReps)
      .map(({ q }) => ({ text: texts[q]!, count: weights[q]! }));
    const label = representatives[0]?.text ?? keywords.join(' ');
    return { keywords, label: label.length > 80 ? `${label.slice(0, 77)}…` : label, representatives };
  });
}
