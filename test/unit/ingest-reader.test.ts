import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blob';
import { MAX_LINE_BYTES } from '../../src/ingest/lines';
import { openReader, readChunk } from '../../src/ingest/reader';

function fileOf(name: string, body: Buffer) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reader-'));
  writeFileSync(path.join(dir, name), body);
  return { store: new FsBlobStore(dir), file: { key: name, uri: `file://${dir}/${name}`, size: body.length } };
}

/** Reads the whole file in pieces of `n` bytes, as importSpan does, and returns what it got. */
async function readAll(reader: ReturnType<typeof openReader>, n: number, from = 0) {
  const parts: Buffer[] = [];
  for (let off = from; ;) {
    const r = await reader.read(off, n);
    parts.push(r.buf);
    off += r.buf.length;
    if (r.eof) return { body: Buffer.concat(parts), damaged: r.damaged };
    expect(r.buf.length).toBe(n);
  }
}

const text = Buffer.from(Array.from({ length: 3000 }, (_, i) => `{"line": ${i}, "pad": "${'x'.repeat(i % 50)}"}\n`).join(''));

describe('openReader', () => {
  it('reads a plain file by byte offset', async () => {
    const { store, file } = fileOf('a.jsonl', text);
    const r = openReader(store, file);
    expect((await readAll(r, 4096)).body.equals(text)).toBe(true);
    expect((await r.read(10, 5)).buf.toString()).toBe(text.subarray(10, 15).toString());
  });

  it('streams a .jsonl.gz file by decompressed offset, across several gzip members', async () => {
    const half = text.length >> 1;
    const { store, file } = fileOf('a.jsonl.gz', Buffer.concat([gzipSync(text.subarray(0, half)), gzipSync(text.subarray(half))]));
    let progress = 0;
    const r = openReader(store, file, () => progress++);
    const got = await readAll(r, 1000);
    expect(got.body.equals(text)).toBe(true);
    expect(got.damaged).toBeUndefined();
    expect(progress).toBeGreaterThan(0);
    r.close();
  });

  it('resumes a .gz file at a decompressed offset (a new reader, as a retried span), and rereads behind its cursor', async () => {
    const { store, file } = fileOf('a.jsonl.gz', gzipSync(text));
    const r = openReader(store, file);
    expect((await readAll(r, 777, 50_000)).body.equals(text.subarray(50_000))).toBe(true);
    expect((await r.read(100, 20)).buf.equals(text.subarray(100, 120))).toBe(true);
    expect((await r.read(100, 20)).buf.equals(text.subarray(100, 120))).toBe(true);
    r.close();
  });

  it('reports a truncated .gz file as damaged after the bytes it could read', async () => {
    const gz = gzipSync(text);
    const { store, file } = fileOf('a.jsonl.gz', gz.subarray(0, gz.length >> 1));
    const got = await readAll(openReader(store, file), 4096);
    expect(got.damaged).toMatch(/unexpected end of file/);
    expect(got.body.length).toBeGreaterThan(0);
    expect(text.subarray(0, got.body.length).equals(got.body)).toBe(true);
  });
});

describe('readChunk', () => {
  const noop = () => {};
  /** Reads a file chunk by chunk as importSpan does: every line once, with its number, and the rejects. */
  async function chunks(name: string, body: Buffer, chunkBytes: number) {
    const { store, file } = fileOf(name, body);
    const reader = openReader(store, file);
    const lines: Array<[number, number]> = [];
    const rejects: Array<[number, string]> = [];
    let lineCount = 0;
    for (let off = 0, line = 1; ;) {
      const c = await readChunk(reader, file, off, line, chunkBytes, noop);
      for (const l of c.lines) lines.push([l.lineNo, l.bytes.length]);
      for (const r of c.rejects) rejects.push([r.lineNo, r.reason]);
      lineCount += c.lineCount;
      off += c.consumed;
      line += c.lineCount;
      if (c.eof || (c.consumed === 0 && c.lineCount === 0)) break;
    }
    reader.close();
    return { lines, rejects, lineCount };
  }

  it('reads a line longer than the chunk whole when it is within MAX_LINE_BYTES', async () => {
    const long = `{"pad": "${'x'.repeat(200_000)}"}`;
    const got = await chunks('a.jsonl', Buffer.from(`short\n${long}\nafter\n`), 16 * 1024);
    expect(got.lines).toEqual([
      [1, 5],
      [2, long.length],
      [3, 5],
    ]);
    expect(got.rejects).toEqual([]);
  });

  it.each(['a.jsonl', 'a.jsonl.gz'])('skips a line over MAX_LINE_BYTES and goes on after it (%s)', async (name) => {
    const text = Buffer.from(`first\n${'y'.repeat(MAX_LINE_BYTES + 5)}\nafter\n`);
    const got = await chunks(name, name.endsWith('.gz') ? gzipSync(text) : text, 256 * 1024);
    expect(got.lines).toEqual([
      [1, 5],
      [3, 5],
    ]);
    expect(got.rejects).toEqual([[2, `line is ${MAX_LINE_BYTES + 5} bytes; the line limit (MAX_LINE_BYTES) is ${MAX_LINE_BYTES} bytes: shorten the record`]]);
    expect(got.lineCount).toBe(3);
  });

  it('rejects a gzip file under a plain name as one line', async () => {
    const got = await chunks('a.jsonl', gzipSync(text), 4096);
    expect(got).toEqual({ lines: [], rejects: [[1, 'the file is gzip-compressed: name it a.jsonl.gz to import it']], lineCount: 1 });
  });

  it('rejects the unreadable tail of a truncated .gz file as one more line', async () => {
    const gz = gzipSync(text);
    const got = await chunks('a.jsonl.gz', gz.subarray(0, gz.length >> 1), 4096);
    const last = got.lines.at(-1)?.[0] ?? 0;
    expect(got.rejects.at(-1)).toEqual([last + 1, expect.stringMatching(/^the compressed data is damaged after this point.*unexpected end of file/)]);
    expect(got.lineCount).toBe(last + 1);
  });
});
