import { createHash } from 'node:crypto';
import { SLOT_TYPES, type SlotType } from '../serving/slot-types';
import { seededRank } from './hash';
import { findNearDuplicates } from './neardup';
import { DEFAULT_PII_TYPES, type ScrubResult, addCounts, createPiiScrubber } from './pii';
import type { ChatExample, DatasetCard, DatasetOptions, DatasetSourceRow } from './types';

/**
 * The dataset builder of LoRA distillation (pure: no I/O, no clock, no randomness beyond the seed). From the
 * interactions of the chosen clusters to train/eval examples in chat fine-tuning format and their card. Steps, in
 * order (each example dropped is counted once, under the first step that drops it, so that
 * input = notAccepted + invalid + exactDuplicates + nearDuplicates + cappedOut + smallClusters + train + eval):
 *
 * 1. Order: rows are sorted by interactionId (the input order never matters); "first" below means oldest.
 * 2. notAccepted: rows whose latest feedback did not accept them.
 * 3. edited: a non-blank correctedAnswer replaces the teacher's answer (counted, not dropped).
 * 4. invalid: rows with no user turn with text, or a blank answer, cannot teach anything. Messages keep their order;
 *    `developer` turns become `system` turns; tool/function turns and blank turns are left out.
 * 5. PII: every message and the answer are scrubbed (pii.ts): values of `piiTypes` become `<email>`, `<phone>`, ...
 *    in place, nothing else changes. The card reports the values replaced in the examples written, per type.
 * 6. exactDuplicates: the same conversation and answer (after scrubbing, NFKC, lower-cased, whitespace collapsed) as
 *    an older row: the older one stays.
 * 7. nearDuplicates: MinHash LSH over the word 3-shingles of (last user turn + answer), confirmed by the exact Jaccard:
 *    a row at >= nearDuplicateJaccard to an older kept row goes (neardup.ts). Global, across clusters.
 * 8. cappedOut: a cluster with more than maxPerCluster rows keeps maxPerCluster chosen by a seeded hash of the
 *    interaction id (a seeded sample, not the oldest N).
 * 9. smallClusters: the rows of clusters left with fewer than minPerCluster rows (a count of EXAMPLES, like the others;
 *    the clusters kept are in perCluster).
 * 10. Split, stratified by cluster, with near-duplicate groups kept whole: kept rows whose Jaccard is >= splitJaccard
 *    (default 0.7) are joined into groups (transitively), and a group goes to one side as a unit, so no pair at or
 *    above splitJaccard straddles train and eval. Each cluster of n rows aims at
 *    target = clamp(round(n * evalShare), 1, n - 1) eval rows when n >= 2 and evalShare > 0 (so every kept cluster is
 *    in both splits), else 0. Groups are visited in a seeded order and go to eval while every cluster they touch stays
 *    within its target. A cluster still without eval then gets its smallest group holding at most half of it (which
 *    may overshoot the target); a cluster that is one big group stays train-only (perCluster shows eval 0).
 * 11. Output: per split, in a seeded order; each example is the request's turns then the answer as the assistant turn,
 *    with metadata {interactionId, clusterId}. Tokens are estimated as ceil(characters / 4) per example, prompt (all
 *    turns before the answer) and completion (the answer) apart.
 *
 * Deterministic: the same rows (in any order) and options give byte-identical JSONL (toJsonl) and card.
 */

export const DEFAULT_DATASET_OPTIONS: Readonly<Omit<DatasetOptions, 'seed'>> = {
  evalShare: 0.1,
  maxPerCluster: 2000,
  nearDuplicateJaccard: 0.9,
  minPerCluster: 5,
};
/** Default splitJaccard (never above nearDuplicateJaccard). */
export const DEFAULT_SPLIT_JACCARD = 0.7;

/** DatasetOptions plus two optional knobs of this builder (both recorded in the card's options). */
export interface DatasetBuildOptions extends DatasetOptions {
  /** Jaccard at or above which two kept examples must be on the same side of the split. Default min(0.7, nearDuplicateJaccard). */
  splitJaccard: number;
  /** The masked value types scrubbed as PII. Default DEFAULT_PII_TYPES (email, phone, card, iban, id, name, url). */
  piiTypes: SlotType[];
}

export interface DatasetProvenance {
  tenantId: string;
  clusterRunId: string;
  /** The clusters the rows were loaded for; default: the clusters of the rows. */
  clusterIds?: string[];
}

export type DatasetCounts = DatasetCard['counts'] & {
  /** Accepted rows without a user turn with text or with a blank answer. */
  invalid: number;
};

/** The card without what depends on storage (id and files); assignable to Omit<DatasetCard, 'id' | 'files'>. */
export type DatasetCardDraft = Omit<DatasetCard, 'id' | 'files' | 'options' | 'counts'> & { options: DatasetBuildOptions; counts: DatasetCounts };

export interface BuiltDatasetExamples {
  train: ChatExample[];
  eval: ChatExample[];
  card: DatasetCardDraft;
}

type Role = ChatExample['messages'][number]['role'];

interface Prepared {
  id: number;
  clusterId: string;
  messages: Array<{ role: Role; content: string }>;
  answer: string;
  lastUser: string;
  /** Scrub results of the turns and the answer (their counts are summed over the examples written). */
  scrubs: ScrubResult[];
}

export function buildDataset(
  rows: ReadonlyArray<DatasetSourceRow>,
  opts: Partial<DatasetBuildOptions> & { seed: string },
  provenance: DatasetProvenance,
): BuiltDatasetExamples {
  const options = resolveOptions(opts);
  const { seed } = options;
  const counts: DatasetCounts = {
    input: rows.length,
    notAccepted: 0,
    edited: 0,
    invalid: 0,
    exactDuplicates: 0,
    nearDuplicates: 0,
    cappedOut: 0,
    smallClusters: 0,
    train: 0,
    eval: 0,
  };

  // 1. Oldest first; equal ids (should not happen) ordered by content so that the input order still never matters.
  const sorted = [...rows].sort((a, b) => a.interactionId - b.interactionId || cmp(canonicalRow(a), canonicalRow(b)));

  // 2-6. Accepted, edited, valid, scrubbed, not an exact duplicate.
  const scrub = createPiiScrubber(options.piiTypes);
  const normMemo = new Map<string, string>();
  const normalised = (text: string) => {
    let t = normMemo.get(text);
    if (t === undefined) normMemo.set(text, (t = norm(text)));
    return t;
  };
  const seen = new Set<string>();
  const prepared: Prepared[] = [];
  for (const r of sorted) {
    if (!r.accepted) {
      counts.notAccepted++;
      continue;
    }
    let answer = r.answer ?? '';
    if (typeof r.correctedAnswer === 'string' && r.correctedAnswer.trim() !== '') {
      answer = r.correctedAnswer;
      counts.edited++;
    }
    const messages: Prepared['messages'] = [];
    const scrubs: ScrubResult[] = [];
    let lastUser = '';
    for (const m of r.messages) {
      const role = roleOf(m.role);
      if (role === null || typeof m.content !== 'string' || m.content.trim() === '') continue;
      const s = scrub(m.content);
      scrubs.push(s);
      messages.push({ role, content: s.text });
      if (role === 'user') lastUser = s.text;
    }
    if (lastUser === '' || answer.trim() === '') {
      counts.invalid++;
      continue;
    }
    const a = scrub(answer);
    scrubs.push(a);
    const key = exactKey(messages, a.text, normalised);
    if (seen.has(key)) {
      counts.exactDuplicates++;
      continue;
    }
    seen.add(key);
    prepared.push({ id: r.interactionId, clusterId: r.clusterId, messages, answer: a.text, lastUser, scrubs });
  }

  // 7. Near-duplicates (removal) and near-duplicate groups (for the split), in one pass, oldest first.
  const nd = findNearDuplicates(
    prepared.map((p) => `${p.lastUser}\n${p.answer}`),
    { removeAt: options.nearDuplicateJaccard, groupAt: options.splitJaccard },
  );

  // 8-9. Per-cluster caps (seeded sample) and small clusters.
  const byCluster = new Map<string, number[]>();
  for (let i = 0; i < prepared.length; i++) {
    if (nd.duplicateOf[i] !== -1) {
      counts.nearDuplicates++;
      continue;
    }
    const c = prepared[i]!.clusterId;
    let list = byCluster.get(c);
    if (!list) byCluster.set(c, (list = []));
    list.push(i);
  }
  const clusters = [...byCluster.keys()].sort(cmp);
  const kept = new Map<string, number[]>();
  for (const c of clusters) {
    let list = byCluster.get(c)!;
    if (list.length > options.maxPerCluster) {
      list = seededOrder(list, (i) => prepared[i]!.id, seed, 'cap')
        .slice(0, options.maxPerCluster)
        .sort((x, y) => x - y);
      counts.cappedOut += byCluster.get(c)!.length - list.length;
    }
    if (list.length < options.minPerCluster) {
      counts.smallClusters += list.length;
      continue;
    }
    kept.set(c, list);
  }

  // 10. Stratified split with near-duplicate groups whole.
  const inEval = splitStratified(
    kept,
    (i) => nd.group[i]!,
    (i) => prepared[i]!.id,
    options,
  );

  // 11. Output.
  const train: ChatExample[] = [];
  const evalSet: ChatExample[] = [];
  const tokens = { train: { prompt: 0, completion: 0 }, eval: { prompt: 0, completion: 0 } };
  const scrubbed: Partial<Record<SlotType, number>> = {};
  const perCluster: DatasetCard['perCluster'] = [];
  for (const [c, list] of kept) {
    let nEval = 0;
    for (const i of list) {
      const p = prepared[i]!;
      const isEval = inEval.has(i);
      if (isEval) nEval++;
      (isEval ? evalSet : train).push(toExample(p));
      const t = isEval ? tokens.eval : tokens.train;
      let promptChars = 0;
      for (const m of p.messages) promptChars += m.content.length;
      t.prompt += Math.ceil(promptChars / 4);
      t.completion += Math.ceil(p.answer.length / 4);
      for (const s of p.scrubs) addCounts(scrubbed, s.counts);
    }
    perCluster.push({ clusterId: c, train: list.length - nEval, eval: nEval });
  }
  const order = (xs: ChatExample[]) => seededOrder(xs, (e) => e.metadata!.interactionId, seed, 'order');
  counts.train = train.length;
  counts.eval = evalSet.length;

  const card: DatasetCardDraft = {
    createdFrom: {
      tenantId: provenance.tenantId,
      clusterRunId: provenance.clusterRunId,
      clusterIds: [...new Set(provenance.clusterIds ?? rows.map((r) => r.clusterId))].sort(cmp),
    },
    options,
    counts,
    tokens,
    pii: { scrubbed: Object.fromEntries(SLOT_TYPES.filter((t) => scrubbed[t] !== undefined).map((t) => [t, scrubbed[t]!])) },
    perCluster,
  };
  return { train: order(train), eval: order(evalSet), card };
}

// ---------------------------------------------------------------------------------------------------------------
// Split
// ---------------------------------------------------------------------------------------------------------------

/** The rows that go to eval: see step 10 above. */
function splitStratified(
  kept: ReadonlyMap<string, number[]>,
  groupOf: (row: number) => number,
  idOf: (row: number) => number,
  options: DatasetBuildOptions,
): Set<number> {
  interface ClusterState {
    n: number;
    target: number;
    eval: number;
  }
  interface Atom {
    rows: number[];
    /** Members per cluster. */
    per: Map<string, number>;
    inEval: boolean;
  }
  const state = new Map<string, ClusterState>();
  const clusterOf = new Map<number, string>();
  const atomsByGroup = new Map<number, Atom>();
  for (const [c, list] of kept) {
    const n = list.length;
    const target = n >= 2 && options.evalShare > 0 ? Math.min(n - 1, Math.max(1, Math.round(n * options.evalShare))) : 0;
    state.set(c, { n, target, eval: 0 });
    for (const i of list) {
      clusterOf.set(i, c);
      const g = groupOf(i);
      let atom = atomsByGroup.get(g);
      if (!atom) atomsByGroup.set(g, (atom = { rows: [], per: new Map(), inEval: false }));
      atom.rows.push(i);
      atom.per.set(c, (atom.per.get(c) ?? 0) + 1);
    }
  }
  // Seeded order of the groups, each named by its oldest member (rows are indices in id order).
  const atoms = seededOrder([...atomsByGroup.values()], (a) => idOf(a.rows.reduce((x, y) => Math.min(x, y))), options.seed, 'split');
  const fits = (a: Atom) => {
    for (const [c, m] of a.per) {
      const s = state.get(c)!;
      if (s.eval + m > s.target) return false;
    }
    return true;
  };
  const take = (a: Atom) => {
    a.inEval = true;
    for (const [c, m] of a.per) state.get(c)!.eval += m;
  };
  for (const a of atoms) if (fits(a)) take(a);
  // Clusters still without eval: their smallest group holding at most half of the cluster, if moving it leaves
  // every cluster it touches with a train row.
  for (const [c, s] of [...state].sort((x, y) => cmp(x[0], y[0]))) {
    if (s.target === 0 || s.eval > 0) continue;
    let best: Atom | null = null;
    for (const a of atoms) {
      const m = a.per.get(c);
      if (a.inEval || m === undefined || m > s.n / 2) continue;
      if (best && m >= best.per.get(c)!) continue;
      let ok = true;
      for (const [c2, m2] of a.per) {
        const s2 = state.get(c2)!;
        if (s2.n - s2.eval - m2 < 1) ok = false;
      }
      if (ok) best = a;
    }
    if (best) take(best);
  }
  const inEval = new Set<number>();
  for (const a of atoms) if (a.inEval) for (const i of a.rows) inEval.add(i);
  return inEval;
}

// ---------------------------------------------------------------------------------------------------------------
// JSONL and the content address
// ---------------------------------------------------------------------------------------------------------------

/** One JSON object per line, keys in a fixed order (messages: role, content; metadata: interactionId, clusterId). */
export function toJsonl(examples: ReadonlyArray<ChatExample>): string {
  let out = '';
  for (const e of examples) {
    const line: ChatExample = { messages: e.messages.map((m) => ({ role: m.role, content: m.content })) };
    if (e.metadata) line.metadata = { interactionId: e.metadata.interactionId, clusterId: e.metadata.clusterId };
    out += `${JSON.stringify(line)}\n`;
  }
  return out;
}

/** Content address of a dataset: `ds_` and the first 16 hex digits of SHA-256 over both files, length-framed. */
export function datasetId(trainJsonl: string, evalJsonl: string): string {
  const h = createHash('sha256');
  h.update(`train ${Buffer.byteLength(trainJsonl)}\n`).update(trainJsonl);
  h.update(`eval ${Buffer.byteLength(evalJsonl)}\n`).update(evalJsonl);
  return `ds_${h.digest('hex').slice(0, 16)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

function resolveOptions(opts: Partial<DatasetBuildOptions> & { seed: string }): DatasetBuildOptions {
  if (typeof opts.seed !== 'string') throw new RangeError('dataset options: seed must be a string');
  const d = DEFAULT_DATASET_OPTIONS;
  const nearDuplicateJaccard = opts.nearDuplicateJaccard ?? d.nearDuplicateJaccard;
  const o: DatasetBuildOptions = {
    seed: opts.seed,
    evalShare: opts.evalShare ?? d.evalShare,
    maxPerCluster: opts.maxPerCluster ?? d.maxPerCluster,
    nearDuplicateJaccard,
    minPerCluster: opts.minPerCluster ?? d.minPerCluster,
    splitJaccard: opts.splitJaccard ?? Math.min(DEFAULT_SPLIT_JACCARD, nearDuplicateJaccard),
    piiTypes: [...new Set(opts.piiTypes ?? DEFAULT_PII_TYPES)].sort((a, b) => SLOT_TYPES.indexOf(a) - SLOT_TYPES.indexOf(b)),
  };
  const bad = (what: string) => {
    throw new RangeError(`dataset options: ${what}`);
  };
  if (!(o.evalShare >= 0 && o.evalShare < 1)) bad(`evalShare must be in [0, 1), got ${o.evalShare}`);
  if (!Number.isInteger(o.maxPerCluster) || o.maxPerCluster < 1) bad(`maxPerCluster must be an integer >= 1, got ${o.maxPerCluster}`);
  if (!Number.isInteger(o.minPerCluster) || o.minPerCluster < 1) bad(`minPerCluster must be an integer >= 1, got ${o.minPerCluster}`);
  if (o.minPerCluster > o.maxPerCluster) bad(`minPerCluster (${o.minPerCluster}) must not exceed maxPerCluster (${o.maxPerCluster})`);
  if (!(o.nearDuplicateJaccard > 0 && o.nearDuplicateJaccard <= 1)) bad(`nearDuplicateJaccard must be in (0, 1], got ${o.nearDuplicateJaccard}`);
  if (!(o.splitJaccard > 0 && o.splitJaccard <= 1)) bad(`splitJaccard must be in (0, 1], got ${o.splitJaccard}`);
  for (const t of o.piiTypes) if (!SLOT_TYPES.includes(t)) bad(`unknown PII type "${t}" (known: ${SLOT_TYPES.join(', ')})`);
  return o;
}

function roleOf(role: string): Role | null {
  switch (role) {
    case 'system':
    case 'developer':
      return 'system';
    case 'user':
      return 'user';
    case 'assistant':
      return 'assistant';
    default:
      return null;
  }
}

function toExample(p: Prepared): ChatExample {
  return {
    messages: [...p.messages.map((m) => ({ role: m.role, content: m.content })), { role: 'assistant', content: p.answer }],
    metadata: { interactionId: p.id, clusterId: p.clusterId },
  };
}

const norm = (s: string) => s.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();

/** The exact-duplicate key: SHA-1 of the normalised turns (with roles) and answer. */
function exactKey(messages: Prepared['messages'], answer: string, normalised: (s: string) => string): string {
  const h = createHash('sha1');
  for (const m of messages) h.update(`${m.role}\u0000${normalised(m.content)}\u0001`);
  h.update(`answer\u0000${normalised(answer)}`);
  return h.digest('base64');
}

/** Code-unit order: the same everywhere, unlike localeCompare. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonicalRow(r: DatasetSourceRow): string {
  return JSON.stringify([r.clusterId, r.accepted, r.answer, r.correctedAnswer ?? null, r.messages.map((m) => [m.role, m.content])]);
}

/** Items sorted by a seeded hash of their id (ties by id): a seeded shuffle that does not depend on input order. */
function seededOrder<T>(items: ReadonlyArray<T>, idOf: (x: T) => number, seed: string, salt: string): T[] {
  const keyed = items.map((x) => ({ x, id: idOf(x), r: seededRank(seed, salt, idOf(x)) }));
  keyed.sort((a, b) => a.r - b.r || a.id - b.id);
  return keyed.map((k) => k.x);
}
