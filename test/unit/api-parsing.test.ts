import { describe, expect, it } from 'vitest';
import { batchItems, summarize } from '../../src/api/routes-interactions';
import { parseJson } from '../../src/api/server';
import { InputError } from '../../src/errors';

describe('parseJson', () => {
  it('parses ordinary JSON, including text that merely mentions __proto__', () => {
    expect(parseJson('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    expect(parseJson('{"content":"write \\"__proto__\\": 1 in JS"}')).toEqual({ content: 'write "__proto__": 1 in JS' });
    expect(parseJson('{"constructor":"fine"}')).toEqual({ constructor: 'fine' });
  });

  it.each(['{"__proto__":{"x":1}}', '{"a":{"\\u005f_proto__":{"x":1}}}', '{"constructor":{"prototype":{"x":1}}}'])(
    'refuses prototype poisoning in %s',
    (text) => {
      expect(() => parseJson(text)).toThrow(InputError);
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    },
  );

  it('throws SyntaxError for malformed JSON', () => {
    expect(() => parseJson('{"a":')).toThrow(SyntaxError);
  });
});

describe('batchItems', () => {
  const ex = '{ "interactions": [ ... ] }';
  it('returns the items of a valid envelope', () => {
    expect(batchItems({ interactions: [1, 2] }, 'interactions', 2, ex)).toEqual([1, 2]);
  });
  it.each<[unknown, string]>([
    [null, '(body)'],
    [[1], '(body)'],
    [{}, 'interactions'],
    [{ interactions: {} }, 'interactions'],
    [{ interactions: [1, 2, 3] }, 'interactions'],
    [{ interactions: [], more: 1 }, 'more'],
  ])('refuses %j naming %s', (body, field) => {
    expect(() => batchItems(body, 'interactions', 2, ex)).toThrow(expect.objectContaining({ field, kind: 'invalid' }));
  });
});

describe('summarize', () => {
  it('counts everything but stored and duplicate as rejected', () => {
    const s = summarize(['stored', 'duplicate', 'conflict', 'invalid', 'not_found', 'stored'].map((status, index) => ({ index, status })));
    expect({ stored: s.stored, duplicates: s.duplicates, rejected: s.rejected }).toEqual({ stored: 2, duplicates: 1, rejected: 3 });
  });
});
