import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * BERT uncased WordPiece tokenizer, equivalent to the Hugging Face `tokenizers` pipeline that all-MiniLM-L6-v2's
 * tokenizer.json describes: added (special) tokens matched on the raw text, BertNormalizer (clean text, spaces around
 * CJK ideographs, strip accents, lowercase), BertPreTokenizer (split on whitespace and punctuation), WordPiece
 * (greedy longest match, `##` continuation, [UNK] for a word that cannot be split or is over 100 characters), then
 * [CLS] … [SEP] with truncation to max_seq_length (special tokens included).
 *
 * Character classes follow the Rust implementation: whitespace is Unicode White_Space (plus \t \n \r); control is
 * general category Cc, Cf or Co except \t \n \r (unassigned code points are kept); punctuation is general category
 * P* or ASCII punctuation (which adds the ASCII symbols $ + < = > ^ ` | ~); lowercasing is per code point (no
 * context-dependent final sigma).
 */
export interface WordPieceOptions {
  /** token -> id */
  vocab: Map<string, number>;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  continuingSubwordPrefix?: string;
  maxInputCharsPerWord?: number;
  lowercase?: boolean;
  /** Default: same as lowercase (BERT's rule when strip_accents is null). */
  stripAccents?: boolean;
  cleanText?: boolean;
  handleChineseChars?: boolean;
  /** Total length including [CLS] and [SEP]. */
  maxLength?: number;
  /** Tokens matched verbatim in the raw text before normalisation (tokenizer.json added_tokens), content -> id. */
  addedTokens?: Map<string, number>;
}

export interface Encoding {
  ids: number[];
  /** true when the text was longer than maxLength tokens and was cut */
  truncated: boolean;
}

const WHITESPACE = /[\t\n\r\p{White_Space}]/u;
// Rust's unicode_categories `is_other` as the HF normalizer uses it: Cc, Cf, Co (unassigned code points are kept).
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}]/u;
const PUNCT = /[\p{P}!-/:-@[-`{-~]/u;
const MARK_NONSPACING = /\p{Mn}/gu;
const SIMPLE_ASCII = /^[\x20-\x7e]*$/;

function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

export class WordPieceTokenizer {
  readonly vocab: Map<string, number>;
  readonly maxLength: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  private readonly unkToken: string;
  private readonly prefix: string;
  private readonly maxChars: number;
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  private readonly cleanText: boolean;
  private readonly handleChineseChars: boolean;
  private readonly addedTokens: Map<string, number>;
  private readonly addedPattern: RegExp | undefined;
  /** word -> ids, for the words real traffic repeats */
  private readonly wordCache = new Map<string, number[]>();
  private inverse: Map<number, string> | undefined;

  constructor(opts: WordPieceOptions) {
    this.vocab = opts.vocab;
    this.unkToken = opts.unkToken ?? '[UNK]';
    this.prefix = opts.continuingSubwordPrefix ?? '##';
    this.maxChars = opts.maxInputCharsPerWord ?? 100;
    this.lowercase = opts.lowercase ?? true;
    this.stripAccents = opts.stripAccents ?? this.lowercase;
    this.cleanText = opts.cleanText ?? true;
    this.handleChineseChars = opts.handleChineseChars ?? true;
    this.maxLength = opts.maxLength ?? 512;
    if (this.maxLength < 2) throw new Error(`WordPieceTokenizer: maxLength ${this.maxLength} leaves no room for [CLS] and [SEP]`);
    const id = (tok: string) => {
      const v = this.vocab.get(tok);
      if (v === undefined) throw new Error(`WordPieceTokenizer: token ${tok} is not in the vocabulary`);
      return v;
    };
    this.unkId = id(this.unkToken);
    this.clsId = id(opts.clsToken ?? '[CLS]');
    this.sepId = id(opts.sepToken ?? '[SEP]');
    this.padId = id(opts.padToken ?? '[PAD]');
    this.addedTokens = opts.addedTokens ?? new Map();
    const contents = [...this.addedTokens.keys()].filter((k) => k.length > 0).sort((a, b) => b.length - a.length);
    this.addedPattern = contents.length ? new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : undefined;
  }

  /**
   * From a folder with tokenizer.json (preferred) or vocab.txt, and sentence_bert_config.json for max_seq_length
   * (overridden by `maxLength`).
   */
  static fromDir(dir: string, overrides: { maxLength?: number } = {}): WordPieceTokenizer {
    let maxLength = overrides.maxLength;
    if (maxLength === undefined) {
      try {
        maxLength = Number(JSON.parse(readFileSync(path.join(dir, 'sentence_bert_config.json'), 'utf8')).max_seq_length) || undefined;
      } catch {
        /* optional */
      }
    }
    let tokenizerJson: string | undefined;
    try {
      tokenizerJson = readFileSync(path.join(dir, 'tokenizer.json'), 'utf8');
    } catch {
      /* fall back to vocab.txt */
    }
    if (tokenizerJson !== undefined) return WordPieceTokenizer.fromTokenizerJson(JSON.parse(tokenizerJson), { maxLength });
    let vocabTxt: string;
    try {
      vocabTxt = readFileSync(path.join(dir, 'vocab.txt'), 'utf8');
    } catch {
      throw new Error(`no tokenizer.json or vocab.txt in ${dir}: run scripts/setup`);
    }
    return new WordPieceTokenizer({ vocab: parseVocabTxt(vocabTxt), maxLength: maxLength ?? 512 });
  }

  /** From the parsed tokenizer.json of a BERT WordPiece tokenizer. */
  static fromTokenizerJson(json: TokenizerJson, overrides: { maxLength?: number } = {}): WordPieceTokenizer {
    const model = json.model;
    if (model?.type !== 'WordPiece' || !model.vocab) throw new Error(`tokenizer.json: expected a WordPiece model, got ${model?.type}`);
    const norm = json.normalizer;
    if (norm && norm.type !== 'BertNormalizer') throw new Error(`tokenizer.json: unsupported normalizer ${norm.type}`);
    if (json.pre_tokenizer && json.pre_tokenizer.type !== 'BertPreTokenizer')
      throw new Error(`tokenizer.json: unsupported pre_tokenizer ${json.pre_tokenizer.type}`);
    const lowercase = norm?.lowercase ?? true;
    return new WordPieceTokenizer({
      vocab: new Map(Object.entries(model.vocab)),
      unkToken: model.unk_token,
      continuingSubwordPrefix: model.continuing_subword_prefix,
      maxInputCharsPerWord: model.max_input_chars_per_word,
      lowercase,
      stripAccents: norm?.strip_accents ?? lowercase,
      cleanText: norm?.clean_text ?? true,
      handleChineseChars: norm?.handle_chinese_chars ?? true,
      maxLength: overrides.maxLength ?? json.truncation?.max_length ?? 512,
      addedTokens: new Map((json.added_tokens ?? []).filter((t) => !t.normalized).map((t) => [t.content, t.id])),
    });
  }

  /** Ids with [CLS] … [SEP], truncated to maxLength. */
  encode(text: string): Encoding {
    const ids = this.encodeWithoutSpecial(text);
    const room = this.maxLength - 2;
    const truncated = ids.length > room;
    if (truncated) ids.length = room;
    return { ids: [this.clsId, ...ids, this.sepId], truncated };
  }

  /** The word pieces of `text` (no special tokens added, no truncation), as strings. */
  tokenize(text: string): string[] {
    if (!this.inverse) {
      this.inverse = new Map();
      for (const [k, v] of this.vocab) this.inverse.set(v, k);
    }
    const inv = this.inverse;
    return this.encodeWithoutSpecial(text).map((id) => inv.get(id)!);
  }

  private encodeWithoutSpecial(text: string): number[] {
    const out: number[] = [];
    if (this.addedPattern) {
      let last = 0;
      for (const m of text.matchAll(this.addedPattern)) {
        this.encodeSegment(text.slice(last, m.index), out);
        out.push(this.addedTokens.get(m[0])!);
        last = m.index + m[0].length;
      }
      this.encodeSegment(text.slice(last), out);
    } else {
      this.encodeSegment(text, out);
    }
    return out;
  }

  private encodeSegment(text: string, out: number[]): void {
    if (!text) return;
    for (const word of this.preTokenize(this.normalize(text))) {
      let ids = this.wordCache.get(word);
      if (ids === undefined) {
        ids = this.wordPiece(word);
        if (this.wordCache.size > 100_000) this.wordCache.clear();
        this.wordCache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** BertNormalizer: clean text, pad CJK ideographs with spaces, strip accents (NFD, drop Mn), lowercase. */
  normalize(text: string): string {
    if (SIMPLE_ASCII.test(text)) return this.lowercase ? text.toLowerCase() : text;
    let s = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (this.cleanText) {
        // Controls are dropped before whitespace is mapped to ' ', so VT, FF and NEL (control and White_Space) go.
        if (cp === 0 || cp === 0xfffd) continue;
        if (cp === 9 || cp === 10 || cp === 13) {
          s += ' ';
          continue;
        }
        if (CONTROL.test(ch)) continue;
        if (WHITESPACE.test(ch)) {
          s += ' ';
          continue;
        }
      }
      if (this.handleChineseChars && isChineseChar(cp)) s += ` ${ch} `;
      else s += ch;
    }
    if (this.stripAccents) s = s.normalize('NFD').replace(MARK_NONSPACING, '');
    if (this.lowercase) {
      // Per code point, as Rust's char::to_lowercase: String.prototype.toLowerCase on the whole string would apply
      // the context-dependent final-sigma rule, which the HF tokenizer does not.
      let lower = '';
      for (const ch of s) lower += ch.toLowerCase();
      s = lower;
    }
    return s;
  }

  /** BertPreTokenizer: split on whitespace (dropped) and around each punctuation character (kept). */
  preTokenize(text: string): string[] {
    const words: string[] = [];
    let cur = '';
    for (const ch of text) {
      if (WHITESPACE.test(ch)) {
        if (cur) words.push(cur);
        cur = '';
      } else if (PUNCT.test(ch)) {
        if (cur) words.push(cur);
        words.push(ch);
        cur = '';
      } else {
        cur += ch;
      }
    }
    if (cur) words.push(cur);
    return words;
  }

  /** WordPiece: greedy longest match from the left, `##` on non-initial pieces; [UNK] for the whole word on failure. */
  private wordPiece(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.maxChars) return [this.unkId];
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        const piece = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        found = this.vocab.get(piece);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }
}

export function parseVocabTxt(text: string): Map<string, number> {
  const vocab = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((line, i) => vocab.set(line.replace(/\r$/, ''), i));
  return vocab;
}

/** The parts of a Hugging Face tokenizer.json read here. */
export interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; unk_token?: string; continuing_subword_prefix?: string; max_input_chars_per_word?: number };
  normalizer?: { type?: string; clean_text?: boolean; handle_chinese_chars?: boolean; strip_accents?: boolean | null; lowercase?: boolean } | null;
  pre_tokenizer?: { type?: string } | null;
  truncation?: { max_length?: number } | null;
  added_tokens?: Array<{ id: number; content: string; normalized?: boolean; special?: boolean }>;
}
