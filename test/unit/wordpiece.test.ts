import { describe, expect, it } from 'vitest';
import { WordPieceTokenizer, parseVocabTxt } from '../../src/embeddings/wordpiece';

// A toy BERT vocabulary: ids are line numbers, as in vocab.txt.
const VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  'hello',
  'world',
  ',',
  '!',
  '?',
  "'",
  '.',
  '$',
  '+',
  '^',
  '<',
  '`',
  '|',
  '~',
  '¿',
  '—',
  '-',
  'cafe',
  'un',
  '##aff',
  '##able',
  'unaff',
  'aff',
  '##a',
  '##b',
  'a',
  'b',
  'x',
  '##y',
  'ab',
  '你',
  '好',
  'σ',
  '##α',
  '##σ',
  'don',
  't',
  'is',
  '€',
  '##€',
  'the',
  'card',
  '##s',
  'istanbul',
  'naive',
];
const vocab = parseVocabTxt(`${VOCAB.join('\n')}\n`);
const id = (t: string) => vocab.get(t)!;

function tok(opts: Partial<ConstructorParameters<typeof WordPieceTokenizer>[0]> = {}) {
  return new WordPieceTokenizer({ vocab, addedTokens: new Map(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => [t, id(t)])), ...opts });
}

describe('WordPieceTokenizer: normalisation and splitting', () => {
  const t = tok();

  it('lowercases and splits on whitespace and punctuation', () => {
    expect(t.tokenize('Hello, World!')).toEqual(['hello', ',', 'world', '!']);
    expect(t.tokenize("  don't\tHELLO\n\r world  ")).toEqual(['don', "'", 't', 'hello', 'world']);
  });

  it('strips accents (NFD, nonspacing marks dropped), precomposed or combining', () => {
    expect(t.tokenize('Café')).toEqual(['cafe']);
    expect(t.tokenize('Cafe\u0301')).toEqual(['cafe']);
    expect(t.tokenize('naïve')).toEqual(['naive']);
    // İ lowercases to i + combining dot, but accents are stripped before lowercasing (as BertNormalizer does)
    expect(t.tokenize('İstanbul')).toEqual(['istanbul']);
  });

  it('treats ASCII symbols as punctuation, like the HF BertPreTokenizer', () => {
    expect(t.tokenize('a$b a+b a^b a<b a`b a|b a~b')).toEqual([
      'a',
      '$',
      'b',
      'a',
      '+',
      'b',
      'a',
      '^',
      'b',
      'a',
      '<',
      'b',
      'a',
      '`',
      'b',
      'a',
      '|',
      'b',
      'a',
      '~',
      'b',
    ]);
  });

  it('splits Unicode punctuation (P*) but not symbols (S*)', () => {
    expect(t.tokenize('¿hello—world?')).toEqual(['¿', 'hello', '—', 'world', '?']);
    expect(t.tokenize('a€b')).toEqual(['a', '##€', '##b']);
    expect(t.tokenize('€')).toEqual(['€']);
  });

  it('puts spaces around CJK ideographs', () => {
    expect(t.tokenize('hello你好world')).toEqual(['hello', '你', '好', 'world']);
  });

  it('drops control and format characters, maps other whitespace to a space', () => {
    expect(t.tokenize('x\u000by')).toEqual(['x', '##y']); // VT is a control first: removed, not a space
    expect(t.tokenize('x\u0085y')).toEqual(['x', '##y']);
    expect(t.tokenize('a\u200bb')).toEqual(['ab']); // zero-width space (Cf)
    expect(t.tokenize('a\u00adb')).toEqual(['ab']); // soft hyphen (Cf)
    expect(t.tokenize('x\u0000y\ufffd')).toEqual(['x', '##y']);
    expect(t.tokenize('a\u00a0b\u3000hello\u2028world')).toEqual(['a', 'b', 'hello', 'world']);
  });

  it('lowercases code point by code point (no final sigma)', () => {
    expect(t.tokenize('ΣΑΣ')).toEqual(['σ', '##α', '##σ']);
  });

  it('gives [UNK] for characters outside the vocabulary, emoji included', () => {
    expect(t.tokenize('hello 😀 world')).toEqual(['hello', '[UNK]', 'world']);
  });
});

describe('WordPieceTokenizer: WordPiece', () => {
  const t = tok();

  it('matches greedily, longest prefix first, with ## continuations', () => {
    // 'unaff' is longer than 'un', so it wins; then '##able'
    expect(t.tokenize('unaffable')).toEqual(['unaff', '##able']);
    expect(t.tokenize('cards')).toEqual(['card', '##s']);
    expect(t.tokenize('abab')).toEqual(['ab', '##a', '##b']);
  });

  it('makes the whole word [UNK] when any part cannot be matched', () => {
    expect(t.tokenize('unaffz')).toEqual(['[UNK]']);
    expect(t.tokenize('hello zz world')).toEqual(['hello', '[UNK]', 'world']);
  });

  it('makes a word over max_input_chars_per_word [UNK], counting code points', () => {
    expect(t.tokenize('a'.repeat(100))).toEqual(['a', ...Array(99).fill('##a')]);
    expect(t.tokenize('a'.repeat(101))).toEqual(['[UNK]']);
    expect(tok({ maxInputCharsPerWord: 3 }).tokenize('abab ab')).toEqual(['[UNK]', 'ab']);
  });

  it('maps added special tokens written in the text to their ids, verbatim only', () => {
    // '[cls]' (lowercase) is not the special token: it is normalised and split like any text ('[', 'cls', ']')
    const unk = id('[UNK]');
    expect(t.encode('the [MASK] is [cls]').ids).toEqual([id('[CLS]'), id('the'), id('[MASK]'), id('is'), unk, unk, unk, id('[SEP]')]);
    expect(t.tokenize('a[SEP]b')).toEqual(['a', '[SEP]', 'b']);
    expect(t.tokenize('[mask]')).not.toContain('[MASK]');
  });
});

describe('WordPieceTokenizer: encode', () => {
  it('wraps in [CLS] … [SEP]', () => {
    expect(tok().encode('Hello world')).toEqual({ ids: [id('[CLS]'), id('hello'), id('world'), id('[SEP]')], truncated: false });
    expect(tok().encode('').ids).toEqual([id('[CLS]'), id('[SEP]')]);
    expect(tok().encode(' \t\n').ids).toEqual([id('[CLS]'), id('[SEP]')]);
  });

  it('truncates to maxLength including the special tokens', () => {
    const t = tok({ maxLength: 5 });
    expect(t.encode('hello world hello world')).toEqual({ ids: [id('[CLS]'), id('hello'), id('world'), id('hello'), id('[SEP]')], truncated: true });
    expect(t.encode('hello world hello')).toEqual({ ids: [id('[CLS]'), id('hello'), id('world'), id('hello'), id('[SEP]')], truncated: false });
  });

  it('can keep case and accents when configured (cased models)', () => {
    const t = tok({ lowercase: false });
    expect(t.tokenize('Hello hello')).toEqual(['[UNK]', 'hello']);
    expect(tok({ lowercase: true, stripAccents: false }).tokenize('café')).toEqual(['[UNK]']);
  });
});

describe('WordPieceTokenizer: loading', () => {
  it('parses vocab.txt by line number', () => {
    expect(parseVocabTxt('[PAD]\r\nhello\nworld\n')).toEqual(
      new Map([
        ['[PAD]', 0],
        ['hello', 1],
        ['world', 2],
      ]),
    );
  });

  it('reads a tokenizer.json WordPiece model with its normaliser settings and added tokens', () => {
    const t = WordPieceTokenizer.fromTokenizerJson(
      {
        model: { type: 'WordPiece', vocab: Object.fromEntries(vocab), unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100 },
        normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
        pre_tokenizer: { type: 'BertPreTokenizer' },
        truncation: { max_length: 128 },
        added_tokens: [{ id: id('[MASK]'), content: '[MASK]', normalized: false, special: true }],
      },
      { maxLength: 4 },
    );
    expect(t.maxLength).toBe(4);
    expect(t.encode('Café [MASK] world').ids).toEqual([id('[CLS]'), id('cafe'), id('[MASK]'), id('[SEP]')]);
  });

  it('refuses tokenizers it does not implement', () => {
    expect(() => WordPieceTokenizer.fromTokenizerJson({ model: { type: 'BPE', vocab: {} } })).toThrow(/WordPiece/);
    expect(() =>
      WordPieceTokenizer.fromTokenizerJson({ model: { type: 'WordPiece', vocab: Object.fromEntries(vocab) }, normalizer: { type: 'NFKC' } }),
    ).toThrow(/normalizer/);
  });

  it('needs [UNK], [CLS], [SEP] and [PAD] in the vocabulary', () => {
    expect(() => new WordPieceTokenizer({ vocab: new Map([['a', 0]]) })).toThrow(/\[UNK\]/);
  });
});
