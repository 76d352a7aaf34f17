import { describe, expect, it } from 'vitest';
import { type DatasetBuildOptions, buildDataset, datasetId, toJsonl } from '../../src/distill/dataset';
import { textJaccard } from '../../src/distill/neardup';
import type { ChatExample, DatasetSourceRow } from '../../src/distill/types';
import { rng } from '../support/rng';

// ---------------------------------------------------------------------------------------------------------------
// Fixtures: random texts from a made-up vocabulary (no cue words, capitals or digits, so masking finds nothing in
// them and two of them share almost no word 3-shingles), and source rows.
// ---------------------------------------------------------------------------------------------------------------

const SYL = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'vo', 'zi', 'pe', 'su', 'gu', 'ba'];

function words(rand: () => number, n: number): string[] {
  return Array.from({ length: n }, () => Array.from({ length: 2 + Math.floor(rand() * 2) }, () => SYL[Math.floor(rand() * SYL.length)]).join(''));
}

function sentence(rand: () => number, n: number): string {
  return `${words(rand, n).join(' ')}.`;
}

/** `text` with `k` of its words (never the first or last) replaced by words the vocabulary cannot make. */
function changeWords(text: string, k: number, rand: () => number): string {
  const w = text.split(' ');
  const done = new Set<number>();
  while (done.size < k) {
    const i = 1 + Math.floor(rand() * (w.length - 2));
    if (done.has(i)) continue;
    done.add(i);
    w[i] = `x${done.size}q${Math.floor(rand() * 1e6)
      .toString(36)
      .replace(/\d/g, 'y')}`;
  }
  return w.join(' ');
}

function row(interactionId: number, clusterId: string, query: string, answer: string, extra: Partial<DatasetSourceRow> = {}): DatasetSourceRow {
  return {
    interactionId,
    clusterId,
    messages: [
      { role: 'system', content: 'You are a support assistant.' },
      { role: 'user', content: query },
    ],
    answer,
    correctedAnswer: null,
    accepted: true,
    ...extra,
  };
}

/** `n` unrelated accepted rows of one cluster, ids from `firstId`. */
function clusterRows(clusterId: string, n: number, firstId: number, seed: number): DatasetSourceRow[] {
  const rand = rng(seed * 7919 + 13); // not the sequence of rng(seed) used beside it
  return Array.from({ length: n }, (_, i) =>
    row(firstId + i, clusterId, sentence(rand, 8 + Math.floor(rand() * 6)), sentence(rand, 15 + Math.floor(rand() * 20))),
  );
}

function shuffle<T>(xs: ReadonlyArray<T>, seed: number): T[] {
  const rand = rng(seed);
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const PROVENANCE = { tenantId: 't1', clusterRunId: 'run-1' };
const build = (rows: ReadonlyArray<DatasetSourceRow>, opts: Partial<DatasetBuildOptions> = {}) => buildDataset(rows, { seed: 'seed-1', ...opts }, PROVENANCE);
const examples = (b: { train: ChatExample[]; eval: ChatExample[] }) => [...b.train, ...b.eval];
const idsOf = (xs: ReadonlyArray<ChatExample>) => xs.map((e) => e.metadata!.interactionId).sort((a, b) => a - b);
const byId = (xs: ReadonlyArray<ChatExample>, id: number) => xs.find((e) => e.metadata!.interactionId === id);
/** What near-duplicates are measured on: the last user turn and the answer. */
const nearText = (e: ChatExample) => `${e.messages.filter((m) => m.role === 'user').at(-1)!.content}\n${e.messages.at(-1)!.content}`;
const reconciles = (c: ReturnType<typeof build>['card']['counts']) =>
  c.notAccepted + c.invalid + c.exactDuplicates + c.nearDuplicates + c.cappedOut + c.smallClusters + c.train + c.eval === c.input;

describe('buildDataset: filters', () => {
  it('drops rows not accepted and rows that cannot teach anything, and counts them', () => {
    const rows = clusterRows('a', 10, 1, 1);
    rows[0]!.accepted = false;
    rows[1]!.accepted = false;
    rows[2]!.messages = [{ role: 'system', content: 'You are a support assistant.' }]; // no user turn
    rows[3]!.answer = '  ';
    const b = build(rows);
    expect(b.card.counts).toMatchObject({ input: 10, notAccepted: 2, invalid: 2, train: 5, eval: 1 });
    expect(idsOf(examples(b))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(reconciles(b.card.counts)).toBe(true);
  });

  it('an edited answer replaces the teacher answer (a blank correction does not)', () => {
    const rows = clusterRows('a', 6, 1, 2);
    const teacher = rows[2]!.answer;
    rows[2]!.correctedAnswer = 'the reviewer kept the gist but wrote it much better.';
    rows[3]!.correctedAnswer = ' ';
    const b = build(rows);
    expect(b.card.counts.edited).toBe(1);
    expect(byId(examples(b), 3)!.messages.at(-1)).toEqual({ role: 'assistant', content: 'the reviewer kept the gist but wrote it much better.' });
    expect(toJsonl(examples(b))).not.toContain(teacher);
    expect(byId(examples(b), 4)!.messages.at(-1)!.content).toBe(rows[3]!.answer);
  });

  it('removes exact duplicates (same conversation and answer up to case and whitespace), keeping the oldest', () => {
    const rand = rng(3);
    const rows = clusterRows('a', 6, 10, 3);
    const original = rows[2]!;
    const older: DatasetSourceRow = {
      ...original,
      interactionId: 5,
      messages: original.messages.map((m) => ({ ...m, content: `  ${m.content.toUpperCase().replace(/ /g, '\n ')} ` })),
      answer: original.answer.replace(/ /g, '   '),
    };
    // The same question with another answer is no duplicate.
    const otherAnswer = row(40, 'a', original.messages[1]!.content, sentence(rand, 25));
    const b = build([...rows, older, otherAnswer]);
    expect(b.card.counts.exactDuplicates).toBe(1);
    const ids = idsOf(examples(b));
    expect(ids).toContain(5);
    expect(ids).not.toContain(original.interactionId);
    expect(ids).toContain(40);
  });

  it('removes near-duplicates: one word changed in a long answer is caught, a different answer is not', () => {
    const rand = rng(4);
    const question = sentence(rand, 10);
    const long = sentence(rand, 80);
    const paraphrase = changeWords(long, 1, rand);
    const rows = [...clusterRows('a', 6, 100, 4), row(1, 'a', question, long), row(2, 'a', question, paraphrase), row(3, 'a', question, sentence(rand, 80))];
    expect(textJaccard(`${question}\n${long}`, `${question}\n${paraphrase}`)).toBeGreaterThanOrEqual(0.9);
    const b = build(rows);
    expect(b.card.counts.nearDuplicates).toBe(1);
    const ids = idsOf(examples(b));
    expect(ids).toContain(1); // the oldest stays
    expect(ids).not.toContain(2);
    expect(ids).toContain(3);
    // Near-duplicates are global: the same text in another cluster goes too.
    const across = build([...rows, ...clusterRows('b', 6, 200, 5), row(4, 'b', question, changeWords(long, 1, rand))]);
    expect(across.card.counts.nearDuplicates).toBe(2);
    expect(idsOf(examples(across))).not.toContain(4);
  });

  it('a lower nearDuplicateJaccard removes more', () => {
    const rand = rng(6);
    const question = sentence(rand, 10);
    const long = sentence(rand, 40);
    const variant = changeWords(long, 3, rand);
    const j = textJaccard(`${question}\n${long}`, `${question}\n${variant}`);
    expect(j).toBeGreaterThan(0.6);
    expect(j).toBeLessThan(0.9);
    const rows = [...clusterRows('a', 6, 100, 6), row(1, 'a', question, long), row(2, 'a', question, variant)];
    expect(build(rows).card.counts.nearDuplicates).toBe(0);
    expect(build(rows, { nearDuplicateJaccard: 0.6 }).card.counts.nearDuplicates).toBe(1);
  });
});

describe('buildDataset: PII', () => {
  it('scrubs emails, phones, Luhn-valid cards and names in every turn and the answer into typed placeholders, nothing else', () => {
    const rows = [
      row(1, 'a', 'Hello Support, my email is Jane.Doe@Example.com and my phone is +1 415 555 2671.', 'Thanks, we will write to Jane.Doe@Example.com today.'),
      row(2, 'a', 'Please charge card 4111 1111 1111 1111 for the Premium plan', 'Done: the card 4111-1111-1111-1111 is charged.'),
      row(3, 'a', 'The number 4111 1111 1111 1112 did not work, it costs $25.00', 'Sorry About That, Try Again.'),
      row(4, 'a', 'My name is John Smith.', 'Noted.\n\nRegards,\nAnna', {
        messages: [
          { role: 'system', content: 'Escalations go to ops@acme.example.' },
          { role: 'user', content: 'My name is John Smith.' },
        ],
      }),
      ...clusterRows('a', 4, 100, 7),
    ];
    const b = build(rows);
    const get = (id: number) => byId(examples(b), id)!.messages;
    expect(get(1).slice(1)).toEqual([
      { role: 'user', content: 'Hello Support, my email is <email> and my phone is <phone>.' },
      { role: 'assistant', content: 'Thanks, we will write to <email> today.' },
    ]);
    expect(
      get(2)
        .slice(1)
        .map((m) => m.content),
    ).toEqual(['Please charge card <card> for the Premium plan', 'Done: the card <card> is charged.']);
    // A 16-digit number that fails the Luhn check is no card; money and casing are left alone.
    expect(
      get(3)
        .slice(1)
        .map((m) => m.content),
    ).toEqual(['The number 4111 1111 1111 1112 did not work, it costs $25.00', 'Sorry About That, Try Again.']);
    expect(get(4).map((m) => m.content)).toEqual(['Escalations go to <email>.', 'My name is <name>.', 'Noted.\n\nRegards,\n<name>']);
    expect(b.card.pii.scrubbed).toEqual({ email: 3, phone: 1, card: 2, name: 2 });
    expect(toJsonl(examples(b))).not.toMatch(/Jane\.Doe|2671|4111 1111 1111 1111|John Smith|Anna|ops@/);
  });

  it('counts only what is in the examples written, and scrubs only the types asked for', () => {
    const rows = [
      row(1, 'a', 'write to a.b@example.com', 'ok, call +44 20 7946 0958'),
      row(2, 'a', 'write to c.d@example.com please', 'ok'),
      ...clusterRows('a', 5, 100, 8),
    ];
    rows[1]!.accepted = false;
    expect(build(rows).card.pii.scrubbed).toEqual({ email: 1, phone: 1 });
    const emailsOnly = build(rows, { piiTypes: ['email'] });
    expect(emailsOnly.card.pii.scrubbed).toEqual({ email: 1 });
    expect(byId(examples(emailsOnly), 1)!.messages.at(-1)!.content).toBe('ok, call +44 20 7946 0958');
    expect(emailsOnly.card.options.piiTypes).toEqual(['email']);
  });

  it('rows that differ only in their PII are exact duplicates once scrubbed', () => {
    const rows = [
      row(1, 'a', 'my email is ann@example.com', 'thanks, noted.'),
      row(2, 'a', 'my email is bob@example.org', 'thanks, noted.'),
      ...clusterRows('a', 5, 100, 9),
    ];
    const b = build(rows);
    expect(b.card.counts.exactDuplicates).toBe(1);
    expect(idsOf(examples(b))).toContain(1);
  });
});

describe('buildDataset: caps and small clusters', () => {
  const rows = [...clusterRows('big', 60, 1, 10), ...clusterRows('mid', 12, 1000, 11), ...clusterRows('tiny', 4, 2000, 12)];

  it('caps a cluster with a seeded sample (not the oldest N) and drops clusters below minPerCluster', () => {
    const b = build(rows, { maxPerCluster: 20 });
    expect(b.card.counts).toMatchObject({ input: 76, cappedOut: 40, smallClusters: 4, train: 32 - 3, eval: 3 });
    expect(reconciles(b.card.counts)).toBe(true);
    expect(b.card.perCluster.map((c) => [c.clusterId, c.train + c.eval])).toEqual([
      ['big', 20],
      ['mid', 12],
    ]);
    const big = idsOf(examples(b)).filter((id) => id < 1000);
    expect(big).toHaveLength(20);
    expect(big).not.toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(big.some((id) => id > 40)).toBe(true);
    // Seeded: the same seed picks the same sample, another seed another one.
    expect(idsOf(examples(build(shuffle(rows, 1), { maxPerCluster: 20 }))).filter((id) => id < 1000)).toEqual(big);
    expect(idsOf(examples(build(rows, { maxPerCluster: 20, seed: 'seed-2' }))).filter((id) => id < 1000)).not.toEqual(big);
    // Clusters are listed in createdFrom as loaded (or as given), kept or not.
    expect(b.card.createdFrom).toEqual({ tenantId: 't1', clusterRunId: 'run-1', clusterIds: ['big', 'mid', 'tiny'] });
    expect(buildDataset(rows, { seed: 'x' }, { ...PROVENANCE, clusterIds: ['tiny', 'big', 'mid', 'gone'] }).card.createdFrom.clusterIds).toEqual([
      'big',
      'gone',
      'mid',
      'tiny',
    ]);
  });

  it('minPerCluster 1 keeps even a single example (train only: one example cannot be split)', () => {
    const b = build([...clusterRows('one', 1, 1, 13), ...clusterRows('two', 2, 10, 14)], { minPerCluster: 1 });
    expect(b.card.perCluster).toEqual([
      { clusterId: 'one', train: 1, eval: 0 },
      { clusterId: 'two', train: 1, eval: 1 },
    ]);
  });
});

describe('buildDataset: stratified split', () => {
  const sizes = { a: 5, b: 9, c: 12, d: 40, e: 200 } as const;
  const rows = Object.entries(sizes).flatMap(([c, n], k) => clusterRows(c, n, 10_000 * (k + 1), 20 + k));

  it('puts round(n * evalShare) of each cluster in eval, at least 1 and at most n - 1: every kept cluster is in both splits', () => {
    const perCluster = (share: number) => Object.fromEntries(build(rows, { evalShare: share }).card.perCluster.map((c) => [c.clusterId, [c.train, c.eval]]));
    expect(perCluster(0.1)).toEqual({ a: [4, 1], b: [8, 1], c: [11, 1], d: [36, 4], e: [180, 20] });
    expect(perCluster(0.25)).toEqual({ a: [4, 1], b: [7, 2], c: [9, 3], d: [30, 10], e: [150, 50] });
    expect(perCluster(0.9)).toEqual({ a: [1, 4], b: [1, 8], c: [1, 11], d: [4, 36], e: [20, 180] });
    // evalShare 0: no eval set at all.
    expect(build(rows, { evalShare: 0 }).card.counts).toMatchObject({ train: 266, eval: 0 });
  });

  it('the metadata of every example names its cluster, and the split sides match perCluster', () => {
    const b = build(rows);
    for (const [side, list] of [
      ['train', b.train],
      ['eval', b.eval],
    ] as const) {
      const n = new Map<string, number>();
      for (const e of list) n.set(e.metadata!.clusterId, (n.get(e.metadata!.clusterId) ?? 0) + 1);
      for (const c of b.card.perCluster) expect(n.get(c.clusterId) ?? 0).toBe(c[side]);
    }
  });

  it('changes with the seed and not with the input order', () => {
    const one = build(rows);
    const again = build(shuffle(rows, 7));
    const other = build(rows, { seed: 'seed-2' });
    expect(idsOf(again.eval)).toEqual(idsOf(one.eval));
    expect(idsOf(other.eval)).not.toEqual(idsOf(one.eval));
    expect(other.card.perCluster).toEqual(one.card.perCluster); // stratified either way
  });
});

describe('buildDataset: no near-duplicates across the split', () => {
  /**
   * Six clusters of families: a base example and variants with 1-4 words of a 60-word answer changed, so that pairs
   * fall on both sides of 0.9 (removed) and of 0.7 (kept, but grouped); some variants land in another cluster.
   */
  function families(seed: number): DatasetSourceRow[] {
    const rand = rng(seed);
    const rows: DatasetSourceRow[] = [];
    let id = 1;
    for (let c = 0; c < 6; c++) {
      for (let f = 0; f < 8; f++) {
        const q = sentence(rand, 10);
        const a = sentence(rand, 60);
        rows.push(row(id++, `c${c}`, q, a));
        for (let v = 0; v < 3; v++) {
          const cluster = rand() < 0.15 ? `c${(c + 1) % 6}` : `c${c}`;
          rows.push(row(id++, cluster, rand() < 0.5 ? q : changeWords(q, 1, rand), changeWords(a, 1 + Math.floor(rand() * 4), rand)));
        }
      }
      rows.push(...clusterRows(`c${c}`, 10, 100_000 + 100 * c, seed * 10 + c));
    }
    return rows;
  }

  for (const seed of [1, 2, 3]) {
    it(`no train/eval pair reaches splitJaccard (0.7), computed directly (data ${seed})`, () => {
      const b = build(families(seed), { seed: `split-${seed}`, evalShare: 0.2 });
      const { splitJaccard, nearDuplicateJaccard } = b.card.options;
      expect(splitJaccard).toBe(0.7);
      const train = b.train.map(nearText);
      const evalTexts = b.eval.map(nearText);
      let worst = 0;
      for (const t of train) for (const e of evalTexts) worst = Math.max(worst, textJaccard(t, e));
      expect(worst).toBeLessThan(splitJaccard);
      // The data did have similar pairs to keep together (kept: below 0.9, grouped: at or above 0.7) ...
      const all = examples(b).map(nearText);
      let grouped = 0;
      let max = 0;
      for (let i = 0; i < all.length; i++)
        for (let j = i + 1; j < all.length; j++) {
          const s = textJaccard(all[i]!, all[j]!);
          max = Math.max(max, s);
          if (s >= splitJaccard) grouped++;
        }
      expect(grouped).toBeGreaterThan(10);
      expect(max).toBeLessThan(nearDuplicateJaccard);
      expect(b.card.counts.nearDuplicates).toBeGreaterThan(0);
      // ... and every cluster is still in both splits.
      for (const c of b.card.perCluster) {
        expect(c.train).toBeGreaterThan(0);
        expect(c.eval).toBeGreaterThan(0);
      }
    });
  }

  it('a cluster that is one near-duplicate group cannot be split: it stays in train', () => {
    const rand = rng(30);
    const q = sentence(rand, 10);
    const a = sentence(rand, 60);
    // Chains of small edits: each step is similar (>= 0.7) to the one before, not a near-duplicate (< 0.9).
    const chain: DatasetSourceRow[] = [];
    let text = a;
    for (let i = 0; i < 6; i++) {
      chain.push(row(i + 1, 'chain', q, text));
      text = changeWords(text, 3, rand);
    }
    const b = build([...chain, ...clusterRows('other', 10, 100, 31)]);
    expect(b.card.perCluster).toContainEqual({ clusterId: 'chain', train: 6, eval: 0 });
    expect(b.card.perCluster).toContainEqual({ clusterId: 'other', train: 9, eval: 1 });
  });
});

describe('buildDataset: examples, tokens, determinism', () => {
  it('writes the system turn, the conversation, then the answer as the assistant turn, with provenance metadata', () => {
    const r = row(7, 'a', '', 'the final answer.', {
      messages: [
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'tool', content: '{"result":1}' },
        { role: 'user', content: 'second question' },
      ],
    });
    const b = build([r, ...clusterRows('a', 5, 100, 40)]);
    expect(byId(examples(b), 7)).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'second question' },
        { role: 'assistant', content: 'the final answer.' },
      ],
      metadata: { interactionId: 7, clusterId: 'a' },
    });
  });

  it('estimates tokens as ceil(characters / 4) per example, prompt and completion apart, per split', () => {
    const b = build(clusterRows('a', 30, 1, 41));
    const sum = (xs: ChatExample[]) => ({
      prompt: xs.reduce((s, e) => s + Math.ceil(e.messages.slice(0, -1).reduce((t, m) => t + m.content.length, 0) / 4), 0),
      completion: xs.reduce((s, e) => s + Math.ceil(e.messages.at(-1)!.content.length / 4), 0),
    });
    expect(b.card.tokens).toEqual({ train: sum(b.train), eval: sum(b.eval) });
    expect(b.card.tokens.train.prompt).toBeGreaterThan(b.card.tokens.eval.prompt);
  });

  it('is deterministic: the same rows in any order give byte-identical JSONL and card', () => {
    const rand = rng(50);
    const rows = [...clusterRows('a', 30, 1, 51), ...clusterRows('b', 20, 100, 52), row(500, 'a', 'mail me at x@example.com', sentence(rand, 20))];
    rows[3]!.accepted = false;
    rows[4]!.correctedAnswer = 'better.';
    rows.push({ ...rows[5]!, interactionId: 600 }, row(601, 'b', rows[40]!.messages[1]!.content, changeWords(rows[40]!.answer, 1, rand)));
    const one = build(rows);
    for (const seed of [1, 2, 3]) {
      const other = build(shuffle(rows, seed));
      expect(toJsonl(other.train)).toBe(toJsonl(one.train));
      expect(toJsonl(other.eval)).toBe(toJsonl(one.eval));
      expect(JSON.stringify(other.card)).toBe(JSON.stringify(one.card));
    }
    expect(one.card.counts).toMatchObject({ notAccepted: 1, edited: 1, exactDuplicates: 1 });
    // The output order is a seeded shuffle, not the id order nor cluster by cluster.
    expect(one.train.map((e) => e.metadata!.interactionId)).not.toEqual(idsOf(one.train));
  });

  it('rejects options out of range', () => {
    const rows = clusterRows('a', 5, 1, 60);
    expect(() => build(rows, { evalShare: 1 })).toThrow(/evalShare/);
    expect(() => build(rows, { maxPerCluster: 0 })).toThrow(/maxPerCluster/);
    expect(() => build(rows, { minPerCluster: 10, maxPerCluster: 5 })).toThrow(/minPerCluster/);
    expect(() => build(rows, { nearDuplicateJaccard: 0 })).toThrow(/nearDuplicateJaccard/);
    expect(() => build(rows, { piiTypes: ['email', 'ssn' as never] })).toThrow(/ssn/);
    // Options left undefined take their defaults, and the card records what was used.
    expect(build(rows, { evalShare: undefined }).card.options).toEqual({
      seed: 'seed-1',
      evalShare: 0.1,
      maxPerCluster: 2000,
      nearDuplicateJaccard: 0.9,
      minPerCluster: 5,
      splitJaccard: 0.7,
      piiTypes: ['email', 'url', 'phone', 'card', 'iban', 'id', 'name'],
    });
  });
});

describe('toJsonl and datasetId', () => {
  const e1: ChatExample = {
    metadata: { clusterId: 'a', interactionId: 1 },
    messages: [
      { content: 'hi "there"\nyou', role: 'user' },
      { role: 'assistant', content: 'ok' },
    ],
  };
  const e2: ChatExample = {
    messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: 'y' },
    ],
  };

  it('writes one JSON object per line with keys in a fixed order', () => {
    expect(toJsonl([])).toBe('');
    const text = toJsonl([e1, e2]);
    expect(text).toBe(
      '{"messages":[{"role":"user","content":"hi \\"there\\"\\nyou"},{"role":"assistant","content":"ok"}],"metadata":{"interactionId":1,"clusterId":"a"}}\n' +
        '{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}\n',
    );
    expect(
      text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([e1, e2]);
  });

  it('is a content address of both files: same bytes, same id; moving an example across files changes it', () => {
    const t = toJsonl([e1, e2]);
    const id = datasetId(t, toJsonl([e2]));
    expect(id).toMatch(/^ds_[0-9a-f]{16}$/);
    expect(datasetId(t, toJsonl([e2]))).toBe(id);
    expect(datasetId(toJsonl([e1]), toJsonl([e2, e2]))).not.toBe(id);
    expect(datasetId(toJsonl([e1, e2, e2]), '')).not.toBe(id);
    expect(datasetId('', t)).not.toBe(datasetId(t, ''));
  });
});
