import { describe, expect, it } from 'vitest';
import { MINHASH_K, findNearDuplicates, jaccard, lshBands, minhash, shingles, textJaccard } from '../../src/distill/neardup';
import { rng } from '../support/rng';

const VOCAB = Array.from({ length: 5000 }, (_, i) => `w${i.toString(36)}`);
const text = (rand: () => number, n: number) => Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
/** `t` with `k` distinct words replaced by words not in VOCAB. */
function edit(t: string, k: number, rand: () => number): string {
  const w = t.split(' ');
  const done = new Set<number>();
  while (done.size < k) done.add(Math.floor(rand() * w.length));
  for (const i of done) w[i] = `new${i}x${Math.floor(rand() * 1e9)}`;
  return w.join(' ');
}

describe('shingles and Jaccard', () => {
  it('word 3-shingles ignore case, punctuation and spacing, and keep word order', () => {
    expect(textJaccard('The cat, sat ON the mat!', 'the cat sat on\nthe   mat')).toBe(1);
    // {a b c, b c d, c d e} vs {a b c, b c d, c d f}: 2 shared of 4.
    expect(textJaccard('a b c d e', 'a b c d f')).toBe(0.5);
    expect(textJaccard('a b c d', 'd c b a')).toBe(0);
    // One or two words make one shingle; no words, none (and nothing is similar to nothing).
    expect(shingles('hello')).toHaveLength(1);
    expect(textJaccard('hello there', 'hello there')).toBe(1);
    expect(textJaccard('hello there', 'there hello')).toBe(0);
    expect(shingles('?! ...')).toHaveLength(0);
    expect(textJaccard('', '')).toBe(0);
    // Letters of any script and digits make words.
    expect(textJaccard('Größe ändern 42 mal', 'größe ÄNDERN 42 mal')).toBe(1);
    expect(textJaccard('Größe ändern 42 mal', 'größe ändern 43 mal')).toBe(0);
  });

  it('shingle sets are sorted and distinct, and jaccard is exact on them', () => {
    const s = shingles('a b c a b c a b c');
    expect(s).toHaveLength(3); // abc, bca, cab
    expect([...s]).toEqual([...s].sort((x, y) => x - y));
    const a = Uint32Array.of(1, 2, 3, 4);
    const b = Uint32Array.of(3, 4, 5);
    expect(jaccard(a, b)).toBe(2 / 5);
  });

  it('MinHash agreement estimates Jaccard (unbiased within a few standard deviations)', () => {
    const rand = rng(1);
    for (const k of [2, 6, 12]) {
      let agree = 0;
      let truth = 0;
      const trials = 40;
      for (let t = 0; t < trials; t++) {
        const x = text(rand, 60);
        const y = edit(x, k, rand);
        const sx = minhash(shingles(x));
        const sy = minhash(shingles(y));
        for (let i = 0; i < MINHASH_K; i++) if (sx[i] === sy[i]) agree++;
        truth += textJaccard(x, y);
      }
      const est = agree / (MINHASH_K * trials);
      expect(Math.abs(est - truth / trials)).toBeLessThan(0.03);
    }
  });
});

describe('findNearDuplicates', () => {
  it('bands give a pair at the lowest threshold at most a 1e-3 chance to be missed', () => {
    expect(lshBands(0.9)).toEqual({ bands: 16, rows: 8 });
    expect(lshBands(0.7)).toEqual({ bands: 32, rows: 4 });
    expect(lshBands(0.5)).toEqual({ bands: 64, rows: 2 });
  });

  it('removes every text at >= removeAt to an earlier kept one, groups every pair at >= groupAt, and nothing else', () => {
    const rand = rng(2);
    const texts: string[] = [];
    const pairs: Array<[number, number, number]> = [];
    for (let i = 0; i < 600; i++) {
      const base = text(rand, 20 + Math.floor(rand() * 80));
      const variant = edit(base, 1 + Math.floor(rand() * 8), rand);
      texts.push(base, variant);
      pairs.push([2 * i, 2 * i + 1, textJaccard(base, variant)]);
    }
    const r = findNearDuplicates(texts, { removeAt: 0.9, groupAt: 0.7 });
    let removed = 0;
    let grouped = 0;
    for (const [a, b, j] of pairs) {
      expect(r.duplicateOf[a]).toBe(-1); // the earlier one is kept
      if (j >= 0.9) {
        expect(r.duplicateOf[b]).toBe(a);
        expect(r.group[b]).toBe(-1);
        removed++;
      } else {
        expect(r.duplicateOf[b]).toBe(-1);
        if (j >= 0.7) grouped++;
        // Grouped exactly when similar enough: unrelated bases share no group.
        expect(r.group[a] === r.group[b]).toBe(j >= 0.7);
      }
    }
    // The data spans both thresholds.
    expect(removed).toBeGreaterThan(30);
    expect(grouped).toBeGreaterThan(30);
    expect(new Set(r.group.filter((g) => g >= 0)).size).toBe(1200 - removed - grouped);
  });

  it('keeps the first of a chain and measures later ones against kept texts only', () => {
    const rand = rng(3);
    const a = text(rand, 100);
    const b = edit(a, 1, rand); // ~0.94 to a: removed
    const c = edit(b, 1, rand); // ~0.89 to a, ~0.94 to b (removed): kept, grouped with a
    const r = findNearDuplicates([a, b, c], { removeAt: 0.9, groupAt: 0.7 });
    expect(textJaccard(a, c)).toBeLessThan(0.9);
    expect([...r.duplicateOf]).toEqual([-1, 0, -1]);
    expect(r.group[2]).toBe(r.group[0]);
  });

  it('is deterministic and texts without words are never similar', () => {
    const rand = rng(4);
    const texts = [...Array.from({ length: 50 }, () => text(rand, 30)), '...', '...', '!!'];
    texts.push(edit(texts[3]!, 1, rand));
    const one = findNearDuplicates(texts, { removeAt: 0.9, groupAt: 0.7 });
    const two = findNearDuplicates(texts, { removeAt: 0.9, groupAt: 0.7 });
    expect([...one.duplicateOf]).toEqual([...two.duplicateOf]);
    expect([...one.group]).toEqual([...two.group]);
    expect(one.duplicateOf.slice(50, 53).every((d) => d === -1)).toBe(true);
    expect(new Set(one.group.slice(50, 53)).size).toBe(3);
  });
});
