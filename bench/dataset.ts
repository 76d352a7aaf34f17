import { type LabelledExample, type SharedDatasetName, loadSharedDataset } from '../src/datasets/shared';
import { buildDataset, datasetId, toJsonl } from '../src/distill/dataset';
import { findNearDuplicates, shingles } from '../src/distill/neardup';
import { createPiiScrubber } from '../src/distill/pii';
import type { DatasetSourceRow } from '../src/distill/types';

/**
 * Dataset builder speed on 100k synthetic interactions made from bitext v2, banking77 and hwu64 (../shared/data):
 * each source example is replayed a few times with light paraphrase noise in the query (and sometimes one word of
 * the answer changed), emails / phones / Luhn-valid cards injected into a few percent, ~10% not accepted, ~5% edited.
 * Clusters are the data sets' labels, used purely as a grouping. Runs buildDataset 3 times and prints rows/s (median)
 * and the card's counts.
 * Usage: npx tsx bench/dataset.ts [interactions=100000]
 */
const N = Number(process.argv[2] ?? 100_000);

// A small deterministic PRNG (mulberry32): the same interactions on every run.
let state = 0x5eed;
const rand = () => {
  state = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(state ^ (state >>> 15), 1 | state);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
const pick = <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(rand() * xs.length)]!;

const sources: Array<LabelledExample & { set: SharedDatasetName }> = [];
for (const set of ['bitext-v2', 'banking77', 'hwu64'] as const) for (const e of loadSharedDataset(set)) sources.push({ ...e, set });

const SYSTEMS = [
  'You are a helpful customer support assistant.',
  'You are the support assistant of ACME Bank. Be concise and polite.',
  'You answer questions for a smart home assistant.',
];
const OPENERS = ['', '', '', 'hi, ', 'hello ', 'hey there, ', 'Hi! ', 'good morning, ', 'quick question: '];
const CLOSERS = ['', '', '', ' thanks', ' please', '?', ' thank you!', ' asap', ' pls help'];
const SWAPS: Array<[RegExp, string]> = [
  [/\bI want\b/i, "I'd like"],
  [/\bhelp\b/i, 'assist'],
  [/\bcan you\b/i, 'could you'],
  [/\bmy\b/i, 'the'],
  [/\bhow do I\b/i, 'how can I'],
  [/\bneed\b/i, 'have'],
  [/\bplease\b/i, 'pls'],
];
const FIRST = ['john', 'maria', 'wei', 'fatima', 'lucas', 'priya', 'sam'];
const LAST = ['smith', 'garcia', 'chen', 'khan', 'müller', 'rossi'];

function luhnCard(): string {
  const d = [4, ...Array.from({ length: 14 }, () => Math.floor(rand() * 10))];
  let sum = 0;
  for (let i = d.length - 1, dbl = true; i >= 0; i--, dbl = !dbl) {
    let x = d[i]!;
    if (dbl) x = x * 2 > 9 ? x * 2 - 9 : x * 2;
    sum += x;
  }
  d.push((10 - (sum % 10)) % 10);
  return d.join('').replace(/(\d{4})(?=\d)/g, '$1 ');
}
const email = () => `${pick(FIRST)}.${pick(LAST)}${Math.floor(rand() * 1000)}@${pick(['gmail.com', 'example.org', 'acme.co.uk'])}`;
const phone = () => (rand() < 0.5 ? `+1 415 555 ${1000 + Math.floor(rand() * 9000)}` : `(212) 555-${1000 + Math.floor(rand() * 9000)}`);

function paraphrase(q: string): string {
  let s = q;
  for (let k = Math.floor(rand() * 3); k > 0; k--) {
    const [re, to] = pick(SWAPS);
    s = s.replace(re, to);
  }
  if (rand() < 0.3) {
    const words = s.split(' ');
    if (words.length > 4) words.splice(1 + Math.floor(rand() * (words.length - 2)), 1);
    s = words.join(' ');
  }
  if (rand() < 0.2) s = s.toLowerCase();
  return `${pick(OPENERS)}${s}${pick(CLOSERS)}`;
}

function oneWordChanged(a: string): string {
  const words = a.split(' ');
  if (words.length < 20) return a;
  words[5 + Math.floor(rand() * (words.length - 10))] = pick(['really', 'quickly', 'kindly', 'simply', 'also']);
  return words.join(' ');
}

const order = sources.map((_, i) => i);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [order[i], order[j]] = [order[j]!, order[i]!];
}
const rows: DatasetSourceRow[] = [];
for (let i = 0; i < N; i++) {
  const src = sources[order[i % order.length]!]!;
  const replay = i >= order.length;
  let query = replay ? paraphrase(src.query) : src.query;
  let answer = replay && rand() < 0.3 ? oneWordChanged(src.answer) : src.answer;
  const p = rand();
  if (p < 0.03) query += ` my email is ${email()}`;
  else if (p < 0.06) query += `, call me on ${phone()}`;
  else if (p < 0.08) query += ` (card ${luhnCard()})`;
  else if (p < 0.09) answer += ` We have sent the details to ${email()}.`;
  const f = rand();
  rows.push({
    interactionId: i + 1,
    clusterId: `${src.set}:${src.label}`,
    messages: [
      { role: 'system', content: SYSTEMS[src.set === 'bitext-v2' ? 0 : src.set === 'banking77' ? 1 : 2]! },
      { role: 'user', content: query },
    ],
    answer,
    correctedAnswer: f < 0.05 ? `${answer} Is there anything else I can help with?` : null,
    accepted: f < 0.9,
  });
}
// The builder must not care about input order: hand it shuffled.
for (let i = rows.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [rows[i], rows[j]] = [rows[j]!, rows[i]!];
}

const chars = rows.reduce((s, r) => s + r.answer.length + r.messages.reduce((t, m) => t + m.content.length, 0), 0);
console.log(
  `${rows.length.toLocaleString('en')} interactions from ${sources.length.toLocaleString('en')} examples, ${new Set(rows.map((r) => r.clusterId)).size} clusters, ${(chars / 1e6).toFixed(1)}M characters`,
);
const times: number[] = [];
let last: ReturnType<typeof buildDataset> | undefined;
let lastId = '';
for (let run = 0; run < 3; run++) {
  const t0 = performance.now();
  last = buildDataset(rows, { seed: 'bench' }, { tenantId: 'bench', clusterRunId: 'bench' });
  const ms = performance.now() - t0;
  times.push(ms);
  const id = datasetId(toJsonl(last.train), toJsonl(last.eval));
  if (lastId && id !== lastId) throw new Error(`run ${run}: dataset ${id} differs from ${lastId}`);
  lastId = id;
  console.log(`run ${run + 1}: ${(ms / 1000).toFixed(2)} s, ${Math.round(rows.length / (ms / 1000)).toLocaleString('en')} rows/s, dataset ${id}`);
}
times.sort((a, b) => a - b);
const median = times[1]!;
const card = last!.card;
console.log(
  `median: ${Math.round(rows.length / (median / 1000)).toLocaleString('en')} rows/s (${(median / 1000).toFixed(2)} s for ${rows.length.toLocaleString('en')} rows, 1 thread)`,
);
console.log('counts', card.counts);
console.log('tokens', card.tokens);
console.log('pii', card.pii.scrubbed);
const written = toJsonl(last!.train) + toJsonl(last!.eval);
const leaks = written.match(/@(?:gmail\.com|example\.org|acme\.co\.uk)|555[ -]\d{4}|\b4\d{3} \d{4} \d{4} \d{4}\b/g) ?? [];
console.log(`injected emails, phones and cards left in the JSONL: ${leaks.length}${leaks.length ? ` (${leaks.slice(0, 5).join(', ')})` : ''}`);
const sizes0 = card.perCluster.map((c) => c.train + c.eval).sort((a, b) => a - b);
console.log(`cluster sizes kept: min ${sizes0[0]}, median ${sizes0[sizes0.length >> 1]}, max ${sizes0.at(-1)}`);
const noEval = card.perCluster.filter((c) => c.eval === 0);
console.log(
  `clusters kept ${card.perCluster.length}, without eval ${noEval.length}${noEval.length ? ` (${noEval.map((c) => `${c.clusterId} ${c.train}`).join(', ')})` : ''}`,
);

// Caps and small clusters do not bite at the defaults on this data (see the cluster sizes above): once more with both.
const capped = buildDataset(rows, { seed: 'bench', maxPerCluster: 300, minPerCluster: 200 }, { tenantId: 'bench', clusterRunId: 'bench' }).card;
console.log(
  `maxPerCluster 300, minPerCluster 200: cappedOut ${capped.counts.cappedOut}, smallClusters ${capped.counts.smallClusters}, clusters kept ${capped.perCluster.length}, train ${capped.counts.train}, eval ${capped.counts.eval}`,
);

// Where the time goes: the two heavy stages alone, on the accepted rows (unscrubbed texts for near-duplicates).
const accepted = rows.filter((r) => r.accepted);
let t0 = performance.now();
const scrub = createPiiScrubber();
for (const r of accepted) {
  for (const m of r.messages) scrub(m.content);
  scrub(r.correctedAnswer ?? r.answer);
}
const scrubMs = performance.now() - t0;
const texts = accepted.sort((a, b) => a.interactionId - b.interactionId).map((r) => `${r.messages.at(-1)!.content}\n${r.correctedAnswer ?? r.answer}`);
t0 = performance.now();
for (const t of texts) shingles(t);
const shingleMs = performance.now() - t0;
t0 = performance.now();
const nd = findNearDuplicates(texts, { removeAt: card.options.nearDuplicateJaccard, groupAt: card.options.splitJaccard });
const ndMs = performance.now() - t0;
const groups = new Map<number, number>();
for (const g of nd.group) if (g >= 0) groups.set(g, (groups.get(g) ?? 0) + 1);
const sizes = [...groups.values()].sort((a, b) => b - a);
console.log(
  `stages on ${accepted.length.toLocaleString('en')} accepted rows: PII scrub (memoised) ${(scrubMs / 1000).toFixed(2)} s; ` +
    `near-duplicates ${(ndMs / 1000).toFixed(2)} s (shingling ${(shingleMs / 1000).toFixed(2)} s; ${nd.stats.bands} bands x ${nd.stats.rows} rows; ` +
    `${nd.stats.candidates.toLocaleString('en')} candidate pairs, ${nd.stats.verified.toLocaleString('en')} exact Jaccards); ` +
    `groups ${groups.size.toLocaleString('en')}, largest ${sizes.slice(0, 5).join(', ')}, in groups of >= 2: ${sizes
      .filter((s) => s > 1)
      .reduce((a, b) => a + b, 0)
      .toLocaleString('en')} rows`,
);
