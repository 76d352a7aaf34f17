import { InputError } from '../errors';
import { type InteractionRow, type NormalizeOptions, normalizeRecord } from '../interactions/record';

/** Longest JSONL line accepted; longer lines are rejected whole (never truncated into a half record). */
export const MAX_LINE_BYTES = 1024 * 1024;

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
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses and validates lines independently: a bad line is rejected with its reason and never affects a neighbour. */
export function parseLines(lines: RawLine[], opts: { fileKeyPrefix: string } & Omit<NormalizeOptions, 'fallbackKey'>): ParsedLines {
  const out: ParsedLines = { rows: [], rejects: [] };
  for (const { lineNo, bytes } of lines) {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      out.rejects.push({ lineNo, reason: 'line is not valid UTF-8', excerpt: excerptOf(bytes.toString('latin1')) });
      continue;
    }
    if (text.trim() === '') continue;
    if (bytes.length > MAX_LINE_BYTES) {
      out.rejects.push({ lineNo, reason: `line is ${bytes.length} bytes; the limit is ${MAX_LINE_BYTES}`, excerpt: excerptOf(text) });
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

function excerptOf(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
