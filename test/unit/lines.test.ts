import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, type RawLine, parseLines, splitLines } from '../../src/ingest/lines';

/** A chat-log record (no id, so it takes the fallback key unless it has its own). */
function chatLine(question: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    model: 'gpt-4o',
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: `answer to ${question}` },
    ],
    ...extra,
  });
}

function raw(texts: Array<string | Buffer>, first = 1): RawLine[] {
  return texts.map((t, i) => ({ lineNo: first + i, bytes: Buffer.isBuffer(t) ? t : Buffer.from(t) }));
}

const strs = (lines: RawLine[]) => lines.map((l) => [l.lineNo, l.bytes.toString('utf8')]);
const OPTS = { fileKeyPrefix: 's3://b/imports/a.jsonl' };

describe('splitLines', () => {
  it('splits complete lines and leaves a trailing partial line for the next chunk', () => {
    const buf = Buffer.from('one\ntwo\nthr');
    const { lines, consumed } = splitLines(buf, 1, false);
    expect(strs(lines)).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    expect(consumed).toBe(8);
    expect(buf.subarray(consumed).toString()).toBe('thr');
  });

  it('takes the trailing partial line at the end of the file', () => {
    const { lines, consumed } = splitLines(Buffer.from('one\ntwo\nthree'), 1, true);
    expect(strs(lines)).toEqual([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
    ]);
    expect(consumed).toBe(13);
  });

  it('does not invent an empty last line when the file ends with a newline', () => {
    const { lines, consumed } = splitLines(Buffer.from('a\nb\n'), 1, true);
    expect(strs(lines)).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(consumed).toBe(4);
  });

  it('numbers lines from firstLineNo and keeps empty lines (so numbers match the file)', () => {
    expect(strs(splitLines(Buffer.from('a\n\n\nb\n'), 41, false).lines)).toEqual([
      [41, 'a'],
      [42, ''],
      [43, ''],
      [44, 'b'],
    ]);
  });

  it('consumes nothing from a chunk without a newline unless it ends the file', () => {
    expect(splitLines(Buffer.from('{"partial":'), 7, false)).toEqual({ lines: [], consumed: 0 });
    const atEof = splitLines(Buffer.from('{"partial":'), 7, true);
    expect(strs(atEof.lines)).toEqual([[7, '{"partial":']]);
    expect(atEof.consumed).toBe(11);
  });

  it('handles empty input', () => {
    expect(splitLines(Buffer.alloc(0), 1, false)).toEqual({ lines: [], consumed: 0 });
    expect(splitLines(Buffer.alloc(0), 1, true)).toEqual({ lines: [], consumed: 0 });
  });

  it('keeps a CR of CRLF line endings in the line bytes', () => {
    const { lines } = splitLines(Buffer.from('a\r\nb\r\n'), 1, true);
    expect(lines.map((l) => [...l.bytes])).toEqual([
      [0x61, 0x0d],
      [0x62, 0x0d],
    ]);
  });

  it('gives the same lines whatever the chunk boundaries, even inside a multi-byte character', () => {
    const file = Buffer.from('{"q":"héllo"}\n\n{"q":"日本語"}\r\nlast 🎉 line');
    const whole = splitLines(file, 1, true).lines.map((l) => [l.lineNo, l.bytes.toString('hex')]);
    expect(whole).toHaveLength(4);
    for (let chunk = 1; chunk <= file.length; chunk++) {
      const got: Array<[number, string]> = [];
      let carry = Buffer.alloc(0);
      let lineNo = 1;
      for (let off = 0; off < file.length; off += chunk) {
        const end = Math.min(off + chunk, file.length);
        const buf = Buffer.concat([carry, file.subarray(off, end)]);
        const { lines, consumed } = splitLines(buf, lineNo, end === file.length);
        for (const l of lines) got.push([l.lineNo, l.bytes.toString('hex')]);
        lineNo += lines.length;
        carry = Buffer.from(buf.subarray(consumed));
      }
      expect(carry.length).toBe(0);
      expect(got).toEqual(whole);
    }
  });
});

describe('parseLines', () => {
  it('normalises valid lines with the fallback key `${fileKeyPrefix}:${lineNo}`', () => {
    const { rows, rejects } = parseLines(raw([chatLine('q1'), chatLine('q2')], 10), OPTS);
    expect(rejects).toEqual([]);
    expect(rows.map((r) => [r.lineNo, r.row.idempotencyKey, r.row.queryText])).toEqual([
      [10, 's3://b/imports/a.jsonl:10', 'q1'],
      [11, 's3://b/imports/a.jsonl:11', 'q2'],
    ]);
  });

  it('lets an explicit key or a response id win over the fallback key', () => {
    const withId = JSON.stringify({
      request: { model: 'm', messages: [{ role: 'user', content: 'q' }] },
      response: { id: 'chatcmpl-9', choices: [{ message: { role: 'assistant', content: 'a' } }] },
    });
    const { rows } = parseLines(raw([chatLine('q', { idempotency_key: 'k-1' }), withId]), OPTS);
    expect(rows.map((r) => r.row.idempotencyKey)).toEqual(['k-1', 'response:chatcmpl-9']);
  });

  it('passes defaultModel and now through to every record', () => {
    const now = new Date('2026-02-03T04:05:06Z');
    const line = JSON.stringify({
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    });
    const { rows, rejects } = parseLines(raw([line]), { ...OPTS, defaultModel: 'teacher-1', now });
    expect(rejects).toEqual([]);
    expect(rows[0]!.row.teacherModel).toBe('teacher-1');
    expect(rows[0]!.row.occurredAt).toBe(now.toISOString());
  });

  it('skips blank and whitespace-only lines without rejecting them, and counts them', () => {
    const { rows, rejects, blank } = parseLines(raw([chatLine('a'), '', '   \t ', '\r', chatLine('b')]), OPTS);
    expect(rejects).toEqual([]);
    expect(rows.map((r) => r.lineNo)).toEqual([1, 5]);
    expect(blank).toBe(3);
  });

  it('accepts CRLF lines (the trailing CR is JSON whitespace) and keeps their content unchanged', () => {
    const lf = parseLines(raw([chatLine('q')]), OPTS).rows[0]!.row;
    const { rows, rejects } = parseLines(splitLines(Buffer.from(`${chatLine('q')}\r\n${chatLine('q')}\r\n`), 1, true).lines, OPTS);
    expect(rejects).toEqual([]);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.row.contentHash).toBe(lf.contentHash);
    expect(rows[0]!.row.answerText).toBe('answer to q');
  });

  it('accepts a UTF-8 byte order mark at the start of the file', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(chatLine('q'))]);
    const { rows, rejects } = parseLines(raw([bom]), OPTS);
    expect(rejects).toEqual([]);
    expect(rows[0]!.row.queryText).toBe('q');
  });

  it('decodes multi-byte UTF-8', () => {
    const { rows } = parseLines(raw([chatLine('¿dónde está 日本? 🎉')]), OPTS);
    expect(rows[0]!.row.queryText).toBe('¿dónde está 日本? 🎉');
  });

  it('rejects a line that is not valid UTF-8', () => {
    const bad = Buffer.concat([Buffer.from('{"model":"m","messages":[{"role":"user","content":"caf'), Buffer.from([0xe9]), Buffer.from('"}]}')]);
    const { rows, rejects } = parseLines(raw([bad]), OPTS);
    expect(rows).toEqual([]);
    expect(rejects).toEqual([{ lineNo: 1, reason: 'line is not valid UTF-8', excerpt: expect.stringContaining('caf') }]);
  });

  it('rejects a truncated multi-byte character', () => {
    const full = Buffer.from(chatLine('日本'));
    const cut = Buffer.concat([full.subarray(0, full.indexOf(Buffer.from('日')) + 2), Buffer.from('"}]}')]);
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(cut)).toThrow();
    expect(parseLines(raw([cut]), OPTS).rejects[0]!.reason).toBe('line is not valid UTF-8');
  });

  it.each(['{"model":', '{model: "m"}', 'not json', '{"a":1} trailing', "{'a':1}"])('rejects malformed JSON %j', (text) => {
    const { rows, rejects } = parseLines(raw([text]), OPTS);
    expect(rows).toEqual([]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toMatch(/^malformed JSON: /);
    expect(rejects[0]!.excerpt).toBe(text);
  });

  it.each([
    ['null', '(body): must be a JSON object'],
    ['[1,2]', '(body): must be a JSON object'],
    ['"text"', '(body): must be a JSON object'],
    ['{}', 'request: required'],
  ])('rejects valid JSON %s that is not a record, with the validation message', (text, reason) => {
    const { rejects } = parseLines(raw([text]), OPTS);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.reason).toContain(reason);
  });

  it('rejects a record failing validation with the field at fault', () => {
    const { rejects } = parseLines(raw([chatLine('q', { feedback: { kind: 'score', score: 3 } })], 5), OPTS);
    expect(rejects).toEqual([{ lineNo: 5, reason: 'feedback.score: must be between 0 and 1', excerpt: expect.any(String) }]);
  });

  it(`rejects a line over MAX_LINE_BYTES (${MAX_LINE_BYTES}) whole, with a bounded excerpt, and accepts one at the limit`, () => {
    const padded = (bytes: number) => {
      const base = chatLine('q', { metadata: { pad: '' } });
      return chatLine('q', { metadata: { pad: 'x'.repeat(bytes - Buffer.byteLength(base)) } });
    };
    const atLimit = padded(MAX_LINE_BYTES);
    const over = padded(MAX_LINE_BYTES + 1);
    expect(Buffer.byteLength(atLimit)).toBe(MAX_LINE_BYTES);
    expect(Buffer.byteLength(over)).toBe(MAX_LINE_BYTES + 1);
    const { rows, rejects } = parseLines(raw([atLimit, over]), OPTS);
    expect(rows.map((r) => r.lineNo)).toEqual([1]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.lineNo).toBe(2);
    expect(rejects[0]!.reason).toBe(`line is ${MAX_LINE_BYTES + 1} bytes; the line limit (MAX_LINE_BYTES) is ${MAX_LINE_BYTES} bytes: shorten the record`);
    expect(rejects[0]!.excerpt).toBe(`${over.slice(0, 500)}…`);
  });

  it('never lets a bad line affect its neighbours', () => {
    const lines = raw([
      chatLine('q1'),
      '{"broken":',
      chatLine('q3'),
      Buffer.from([0xff, 0xfe, 0x0a]),
      '',
      chatLine('q6', { created_at: 'not a time' }),
      chatLine('q7', { unknown_field: 1 }),
      chatLine('q8'),
    ]);
    const { rows, rejects } = parseLines(lines, OPTS);
    expect(rows.map((r) => [r.lineNo, r.row.queryText, r.row.idempotencyKey])).toEqual([
      [1, 'q1', `${OPTS.fileKeyPrefix}:1`],
      [3, 'q3', `${OPTS.fileKeyPrefix}:3`],
      [8, 'q8', `${OPTS.fileKeyPrefix}:8`],
    ]);
    expect(rejects.map((r) => r.lineNo)).toEqual([2, 4, 6, 7]);
    expect(rejects[2]!.reason).toMatch(/^created_at: /);
    expect(rejects[3]!.reason).toContain('unknown field(s) unknown_field');
    // The same good lines parse to the same rows on their own.
    const alone = parseLines(raw([chatLine('q1')]), OPTS).rows[0]!.row;
    expect(rows[0]!.row).toEqual({ ...alone, occurredAt: rows[0]!.row.occurredAt });
  });

  it('truncates long excerpts of rejected lines to 500 characters', () => {
    const text = `{"broken": "${'y'.repeat(2000)}`;
    const { rejects } = parseLines(raw([text]), OPTS);
    expect(rejects[0]!.excerpt).toBe(`${text.slice(0, 500)}…`);
  });

  // BUG (src/interactions/record.ts canonicalJson, reached from parseLines): a deeply nested but valid JSON value
  // (JSON.parse handles it) makes the recursive canonicalJson overflow the stack; the RangeError is not an
  // InputError, so parseLines rethrows it and the whole chunk fails instead of rejecting this one line.
  it('rejects a deeply nested line instead of failing the whole chunk', () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const nested = chatLine('q2', { metadata: { x: 0 } }).replace('{"x":0}', deep);
    expect(Buffer.byteLength(nested)).toBeLessThan(MAX_LINE_BYTES);
    const { rows, rejects } = parseLines(raw([chatLine('q1'), nested, chatLine('q3')]), OPTS);
    expect(rows.map((r) => r.lineNo)).toEqual([1, 3]);
    expect(rejects.map((r) => r.lineNo)).toEqual([2]);
  });
});

describe('parseLines: what Postgres would refuse is rejected per line', () => {
  const hostile: Array<[string, string, RegExp]> = [
    ['NUL in content', chatLine('a\u0000b'), /^messages\[0\]\.content: holds U\+0000/],
    ['NUL in a metadata key', chatLine('q', { metadata: { 'k\u0000': 1 } }), /^metadata: has a key "k\\u0000" that holds U\+0000/],
    ['NUL in the idempotency key', chatLine('q', { idempotency_key: 'k\u0000' }), /^idempotency_key: holds U\+0000/],
    ['a lone high surrogate', chatLine('x\ud800y'), /^messages\[0\]\.content: holds an unpaired UTF-16 surrogate/],
    ['a lone low surrogate in metadata', chatLine('q', { metadata: { note: '\udc00' } }), /^metadata\.note: holds an unpaired/],
    ['latency_ms out of range', chatLine('q', { latency_ms: 99_999_999_999 }), /^latency_ms: must be from 0 to 2147483647/],
    ['huge token counts', chatLine('q', { usage: { prompt_tokens: 1e12 } }), /^usage\.prompt_tokens: must be from 0 to 2147483647/],
    ['a year after 9999', chatLine('q', { created_at: 253_402_300_800_000 }), /^created_at: must be an ISO-8601 time with offset from the years 2000-2099/],
  ];
  it.each(hostile)('%s', (_what, line, reason) => {
    // JSON.stringify writes U+0000 and lone surrogates as \u escapes, as a real file holds them.
    expect(line).not.toMatch(/\u0000/);
    const { rows, rejects } = parseLines(raw([chatLine('before'), line, chatLine('after')]), OPTS);
    expect(rows.map((r) => r.row.queryText)).toEqual(['before', 'after']);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]!.lineNo).toBe(2);
    expect(rejects[0]!.reason).toMatch(reason);
  });

  it('keeps a surrogate pair (an emoji) as it is', () => {
    const { rows, rejects } = parseLines(raw([chatLine('party \ud83c\udf89')]), OPTS);
    expect(rejects).toEqual([]);
    expect(rows[0]!.row.queryText).toBe('party 🎉');
  });

  it('gives excerpts safe to store: no NUL, control bytes or lone surrogates, even from binary lines', () => {
    const gz = gzipSync(Buffer.from(`${chatLine('q')}\n`));
    const rawNul = Buffer.from('{"broken": "a\u0000b');
    const { rejects } = parseLines(raw([gz, rawNul, '{"x": "\\ud800" ']), OPTS);
    expect(rejects).toHaveLength(3);
    for (const r of rejects) {
      // eslint-disable-next-line no-control-regex
      expect(r.excerpt).not.toMatch(/[\u0000-\u0008\u000b-\u001f]|[\ud800-\udfff]/);
    }
    expect(rejects[1]!.excerpt).toBe('{"broken": "a\\u0000b');
  });
});
