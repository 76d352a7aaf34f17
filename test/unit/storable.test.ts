import { describe, expect, it } from 'vitest';
import { codePointLength, findUnstorableString, unstorableReason } from '../../src/interactions/storable';

describe('unstorableReason', () => {
  it('accepts ordinary text, emoji (surrogate pairs) and other control characters', () => {
    for (const s of ['', 'hello', 'ünïcødé', '😀 ok 𝄞', 'tab\tnew\nline\u0001']) expect(unstorableReason(s), s).toBeUndefined();
  });

  it('names U+0000 and unpaired surrogates (high or low, anywhere) with their position', () => {
    expect(unstorableReason('ab\u0000c')).toMatch(/U\+0000 \(NUL\) at character 2/);
    expect(unstorableReason('x\ud800')).toMatch(/unpaired UTF-16 surrogate \(U\+D800\) at character 1/);
    expect(unstorableReason('\udc00x')).toMatch(/U\+DC00\) at character 0/);
    expect(unstorableReason('😀\ud83dz')).toMatch(/U\+D83D\) at character 2/);
  });
});

describe('findUnstorableString', () => {
  it('finds the first bad value or key at any depth, with its path', () => {
    expect(findUnstorableString({ a: [1, { b: 'ok' }, { c: 'x\u0000' }] }, 64)).toEqual({ path: ['a', 2, 'c'], message: expect.stringContaining('U+0000') });
    const key = findUnstorableString({ meta: { deep: { 'k\ud800': 1 } } }, 64)!;
    expect(key.path).toEqual(['meta', 'deep']);
    expect(key.message).toMatch(/^has a key "k\\ud800" that holds an unpaired UTF-16 surrogate/);
    expect(findUnstorableString({ a: ['fine', 2, null, true] }, 64)).toBeUndefined();
  });

  it('does not descend past maxDepth (hostile nesting cannot overflow the stack)', () => {
    let deep: unknown = 'bad\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableString(deep, 64)).toBeUndefined();
    expect(findUnstorableString([['\u0000']], 64)!.path).toEqual([0, 0]);
  });
});

describe('codePointLength', () => {
  it('counts code points, as JSON Schema maxLength does', () => {
    expect(codePointLength('abc')).toBe(3);
    expect(codePointLength('😀😀')).toBe(2);
    expect(codePointLength('a\ud800')).toBe(2);
  });
});
