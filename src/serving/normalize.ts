import { CLAIMED, RULES_WITHOUT_NAMES, RULES_WITH_NAMES } from './masking-rules';
import { SLOT_TYPES, type SlotType, placeholder } from './slot-types';

/**
 * Query normalisation and masking (pure, no I/O): what clustering, graduation and the router all apply to a query,
 * so the text a route was learnt from and the text it is matched against are normalised the same way.
 *
 * Embeddings barely separate "order 123" from "order 456" (cosine > 0.98), so before a query is embedded and
 * deduplicated its volatile values are masked into typed placeholders (`<id>`, `<email>`, ...) and the text is
 * normalised (NFKC, quotes and dashes folded, whitespace collapsed, lower-cased, punctuation runs reduced) so that
 * repeated intents collapse. The masked values are kept, with their offsets in the ORIGINAL text, for template slot
 * binding later.
 *
 * Masking runs before lower-casing, on the original casing (names need it), over a working copy of the text that is
 * already NFKC-normalised, quote/dash-folded, whitespace-collapsed and punctuation-squeezed; a per-code-unit map
 * turns its offsets back into offsets of the original text. Rules run in precedence order (most specific first):
 * email, url, iban, money, date, time, percent, cued id ("order 123", "#00108"), card, phone, name, other id, number.
 * A rule never matches inside text that an earlier rule claimed, so slots never overlap, and claimed text counts as
 * part of a word for every boundary check, so normalising a normalised text changes nothing. Every pattern is
 * anchored at a token boundary and uses bounded quantifiers, so the cost is linear in the input (no catastrophic
 * backtracking).
 */

export { SLOT_TYPES, type SlotType, placeholder };

export interface Slot {
  type: SlotType;
  /** The original text of the value: `original.slice(start, end)`. */
  value: string;
  /** Offsets in the ORIGINAL text (UTF-16 code units, end exclusive). */
  start: number;
  end: number;
}

export interface NormalizedQuery {
  /** Normalised, masked text: what gets embedded and deduplicated. */
  text: string;
  /** The masked values in order of appearance. */
  slots: Slot[];
  original: string;
}

export interface NormalizeQueryOptions {
  /** Mask person names found after cues ("my name is", "Mr.", "Dear", ...). Default true. */
  maskNames?: boolean;
}

/** The placeholder a slot type is masked to; lower-case ASCII, so lower-casing and NFKC leave it unchanged. */

// ---------------------------------------------------------------------------------------------------------------
// Pre-normalisation with an offset map
// ---------------------------------------------------------------------------------------------------------------

/** Typographic quotes, primes and dashes folded to ASCII (applied after NFKC, one code unit for one). */
const FOLD: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201A': "'",
  '\u201B': "'",
  '\u2032': "'",
  '\u02BC': "'",
  '\u0060': "'",
  '\u201C': '"',
  '\u201D': '"',
  '\u201E': '"',
  '\u201F': '"',
  '\u2033': '"',
  '\u00AB': '"',
  '\u00BB': '"',
  '\u2010': '-',
  '\u2011': '-',
  '\u2012': '-',
  '\u2013': '-',
  '\u2014': '-',
  '\u2015': '-',
  '\u2212': '-',
  '\uFE58': '-',
  '\uFE63': '-',
};
/** Invisible characters dropped (zero-width space, word joiner, BOM, soft hyphen). ZWJ/ZWNJ stay: emoji need them. */
const DROP = new Set(['\u200B', '\u2060', '\uFEFF', '\u00AD']);
const WS = /\s/;
const MARK = /\p{M}/uy;

interface Prepared {
  /** NFKC, folded, whitespace-collapsed and trimmed text, original casing. */
  text: string;
  /** For each code unit of `text`: the original offsets of the source segment it came from. */
  from: Int32Array;
  to: Int32Array;
}

function prepare(original: string): Prepared {
  const n = original.length;
  const out: string[] = [];
  // Output can outgrow the input under NFKC (e.g. "㎏" -> "kg"); grow the maps on demand.
  let from = new Int32Array(n + 16);
  let to = new Int32Array(n + 16);
  let len = 0;
  // Text already in NFKC (most of it) skips normalising segment by segment.
  const stable = original.normalize('NFKC') === original;
  const cache = new Map<string, string>();
  const push = (ch: string, s: number, e: number) => {
    if (len === from.length) {
      const f2 = new Int32Array(from.length * 2);
      f2.set(from);
      from = f2;
      const t2 = new Int32Array(to.length * 2);
      t2.set(to);
      to = t2;
    }
    out.push(ch);
    from[len] = s;
    to[len] = e;
    len++;
  };
  let i = 0;
  while (i < n) {
    const c = original.charCodeAt(i);
    if (c < 0x80 && !(i + 1 < n && original.charCodeAt(i + 1) >= 0x300)) {
      // ASCII fast path: NFKC leaves it alone; only whitespace and the backtick need care.
      if (c === 32 || (c >= 9 && c <= 13)) {
        if (len > 0 && out[len - 1] !== ' ') push(' ', i, i + 1);
      } else push(c === 0x60 ? "'" : original[i]!, i, i + 1);
      i++;
      continue;
    }
    // A segment: one code point and the combining marks after it, normalised together.
    let j = i + (c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1);
    while (j < n && original.charCodeAt(j) >= 0x300) {
      MARK.lastIndex = j;
      if (!MARK.test(original)) break;
      j = MARK.lastIndex;
    }
    const raw = original.slice(i, j);
    let seg = raw;
    if (!stable) {
      seg = cache.get(raw) ?? raw.normalize('NFKC');
      cache.set(raw, seg);
    }
    for (let k = 0; k < seg.length; k++) {
      let ch = seg[k]!;
      if (DROP.has(ch)) continue;
      ch = FOLD[ch] ?? ch;
      if (WS.test(ch)) {
        if (len > 0 && out[len - 1] !== ' ') push(' ', i, j);
      } else push(ch, i, j);
    }
    i = j;
  }
  if (len > 0 && out[len - 1] === ' ') len--;
  return squeezePunctuation({ text: out.slice(0, len).join(''), from: from.subarray(0, len), to: to.subarray(0, len) });
}

const SENTENCE_PUNCT = '?!.';
const CLAUSE_PUNCT = ',;:';
const isPunct = (ch: string | undefined) => ch !== undefined && (SENTENCE_PUNCT.includes(ch) || CLAUSE_PUNCT.includes(ch));

/**
 * Punctuation that ends a word: runs reduced ("??!" -> "?", "..." -> ".", ",," -> ",") and no space before it
 * ("order ?" -> "order?"), to a fixed point (each round shortens the text). Done before masking, so the rules see the
 * same text when a normalised query is normalised again; only punctuation followed by a space or the end is touched,
 * so no new token appears ("a...b.com" stays).
 */
function squeezePunctuation(prep: Prepared): Prepared {
  for (;;) {
    const { text, from, to } = prep;
    const n = text.length;
    const out: string[] = [];
    const f = new Int32Array(n);
    const t = new Int32Array(n);
    let len = 0;
    let changed = false;
    let i = 0;
    while (i < n) {
      const ch = text[i]!;
      if (ch === ' ' && isPunct(text[i + 1])) {
        let j = i + 1;
        while (j < n && isPunct(text[j])) j++;
        if (j === n || text[j] === ' ') {
          changed = true; // the space goes; the run is handled next
          i++;
          continue;
        }
      }
      if (isPunct(ch)) {
        let j = i + 1;
        while (j < n && isPunct(text[j]) && SENTENCE_PUNCT.includes(text[j]!) === SENTENCE_PUNCT.includes(ch)) j++;
        if (j - i >= 2 && (j === n || text[j] === ' ')) {
          const run = text.slice(i, j);
          out.push(CLAUSE_PUNCT.includes(ch) ? ch : run.includes('?') ? '?' : run.includes('!') ? '!' : '.');
          f[len] = from[i]!;
          t[len] = to[j - 1]!;
          len++;
          changed = true;
          i = j;
          continue;
        }
      }
      out.push(ch);
      f[len] = from[i]!;
      t[len] = to[i]!;
      len++;
      i++;
    }
    if (!changed) return prep;
    prep = { text: out.join(''), from: f.subarray(0, len), to: t.subarray(0, len) };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// normalizeQuery
// ---------------------------------------------------------------------------------------------------------------

export function normalizeQuery(text: string, opts: NormalizeQueryOptions = {}): NormalizedQuery {
  const original = text;
  const prep = prepare(original);
  const p = prep.text;
  const n = p.length;
  // For each code unit of p: 1 when a rule claimed it.
  const owner = new Uint8Array(n);
  // Slots, and placeholders already in the text (type null): both are written as placeholders.
  const spans: Array<{ type: SlotType | null; s: number; e: number }> = [];
  let work = p;
  const ruleList = opts.maskNames === false ? RULES_WITHOUT_NAMES : RULES_WITH_NAMES;
  for (let r = 0; r < ruleList.length; r++) {
    const rule = ruleList[r]!;
    const re = rule.re;
    re.lastIndex = 0;
    const claimed: number[] = [];
    let m: RegExpExecArray | null;
    while ((m = re.exec(work)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      const span = rule.accept ? rule.accept(m, work) : ([m.index, m.index + m[0].length] as [number, number]);
      if (!span) {
        // A rejected match may hide a shorter one further on: resume one token later, not after the whole match.
        const nextSpace = work.indexOf(' ', m.index + 1);
        re.lastIndex = nextSpace < 0 || nextSpace >= m.index + m[0].length ? m.index + m[0].length : nextSpace + 1;
        continue;
      }
      let [s, e] = span;
      // Never split a source segment (a character and its combining marks) between a slot and the text beside it.
      while (s > 0 && prep.from[s - 1] === prep.from[s]) s--;
      while (e < n && prep.from[e] === prep.from[e - 1]) e++;
      if (e <= s || overlaps(owner, s, e)) continue;
      for (let k = s; k < e; k++) owner[k] = 1;
      spans.push({ type: rule.type, s, e });
      claimed.push(s, e);
      re.lastIndex = e;
    }
    if (claimed.length && r < ruleList.length - 1) work = blank(work, claimed);
  }

  // Build the normalised text: slot spans become placeholders, the rest is lower-cased.
  spans.sort((a, b) => a.s - b.s);
  // Lower-cased once when that keeps offsets (almost always); piece by piece otherwise ("İ" lower-cases to 2 units).
  const lowered = p.toLowerCase();
  const piece = lowered.length === n ? (s: number, e: number) => lowered.slice(s, e) : (s: number, e: number) => p.slice(s, e).toLowerCase();
  const parts: string[] = [];
  let pos = 0;
  for (const sp of spans) {
    parts.push(piece(pos, sp.s), sp.type === null ? p.slice(sp.s, p.indexOf('>', sp.s) + 1) : placeholder(sp.type));
    pos = sp.e;
  }
  parts.push(piece(pos, n));
  // NFKC again after lower-casing. Safe across pieces: placeholders are ASCII, and no piece after one starts with a
  // combining mark (spans never split a character from its marks), so nothing composes with a '<' or '>'.
  const out = parts.join('').normalize('NFKC');

  const slots: Slot[] = [];
  for (const sp of spans) {
    if (sp.type === null) continue;
    const start = prep.from[sp.s]!;
    const end = prep.to[sp.e - 1]!;
    slots.push({ type: sp.type, value: original.slice(start, end), start, end });
  }
  return { text: out, slots, original };
}

function overlaps(owner: Uint8Array, s: number, e: number): boolean {
  for (let k = s; k < e; k++) if (owner[k] !== 0) return true;
  return false;
}

/** The working text with claimed spans replaced by a neutral character, same length, so later rules skip them. */
function blank(work: string, claimed: number[]): string {
  const parts: string[] = [];
  let pos = 0;
  for (let i = 0; i < claimed.length; i += 2) {
    const s = claimed[i]!;
    const e = claimed[i + 1]!;
    parts.push(work.slice(pos, s), e - s === 1 ? CLAIMED : CLAIMED.repeat(e - s));
    pos = e;
  }
  parts.push(work.slice(pos));
  return parts.join('');
}
