import { InputError } from '../errors';
import { type InteractionRow, type NormalizeOptions, normalizeRecord, sanitizeText } from '../interactions/record';

/**
 * Longest JSONL line accepted, whatever the chunk size: the API's default body limit (API_BODY_LIMIT_BYTES), so a
 * record the API takes also imports. A longer line is rejected whole (never truncated into a half record) and the
 * import goes on after it.
 */
export const MAX_LINE_BYTES = 10 * 1024 * 1024;

/** A rejected line's excerpt: enough to find it, short and safe to store (see `excerptOf`). */
export const EXCERPT_CHARS = 500;

export interface RawLine {
  lineNo: number;
  bytes: Buffer;
}

/**
 * Splits a chunk of a JSONL file into complete lines. A trailing partial line is left for the next chunk unless
 * the chunk ends the file. Returns how many bytes were consumed so the caller can checkpoint the next offset.
 */
export function splitLines(buf: Buffer, firstLineNo: number, atEof: boolean): { lines: RawLine[]; consumed: number } {
  const lines: RawLine[] = [];
  let start = 0;
  let lineNo = firstLineNo;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl === -1) break;
    lines.push({ lineNo: lineNo++, bytes: buf.subarray(start, nl) });
    start = nl + 1;
  }
  if (atEof && start < buf.length) {
    lines.push({ lineNo: lineNo++, bytes: buf.subarray(start) });
    start = buf.length;
  }
  return { lines, consumed: start };
}

export interface ParsedLines {
  rows: Array<{ lineNo: number; row: InteractionRow }>;
  rejects: Array<{ lineNo: number; reason: string; excerpt: string }>;
  /** Empty or whitespace-only lines: neither stored nor rejected, but counted so every line is accounted for. */
  blank: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');

/** Parses and validates lines independently: a bad line is rejected with its reason and never affects a neighbour. */
export function parseLines(lines: RawLine[], opts: { fileKeyPrefix: string } & Omit<NormalizeOptions, 'fallbackKey'>): ParsedLines {
  const out: ParsedLines = { rows: [], rejects: [], blank: 0 };
  for (const { lineNo, bytes } of lines) {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      // Binary input (a compressed file named .jsonl, say) lands here: its excerpt shows U+FFFD and escapes, no bytes.
      out.rejects.push({ lineNo, reason: 'line is not valid UTF-8', excerpt: excerptOf(utf8Lossy.decode(bytes.subarray(0, EXCERPT_CHARS * 4))) });
      continue;
    }
    if (text.trim() === '') {
      out.blank++;
      continue;
    }
    if (bytes.length > MAX_LINE_BYTES) {
      out.rejects.push({ lineNo, reason: tooLongReason(bytes.length), excerpt: excerptOf(text) });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      out.rejects.push({ lineNo, reason: `malformed JSON: ${(err as Error).message}`, excerpt: excerptOf(text) });
      continue;
    }
    try {
      out.rows.push({ lineNo, row: normalizeRecord(value, { ...opts, fallbackKey: `${opts.fileKeyPrefix}:${lineNo}` }) });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      out.rejects.push({ lineNo, reason: err.message, excerpt: excerptOf(text) });
    }
  }
  return out;
}

export function tooLongReason(bytes: number): string {
  return `line is ${bytes} bytes; the line limit (MAX_LINE_BYTES) is ${MAX_LINE_BYTES} bytes: shorten the record`;
}

/** The first EXCERPT_CHARS characters, with control characters and unpaired surrogates escaped (see sanitizeText). */
export function excerptOf(text: string): string {
  return text.length > EXCERPT_CHARS ? `${sanitizeText(text.slice(0, EXCERPT_CHARS))}…` : sanitizeText(text);
}
