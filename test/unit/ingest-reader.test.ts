import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../src/blob';
import { openReader } from '../../src/ingest/reader';

function fileOf(name: string, body: Buffer) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'reader-'));
  writeFileSync(path.join(dir, name), body);
  return { store: new FsBlobStore(dir), file: { key: name, uri: `file://${dir}/${name}`, size: body.length } };
}

/** Reads the whole file in pieces of `n` bytes, as importSpan does, and returns what it got. */
async function readAll(reader: ReturnType<typeof openReader>, n: number, from = 0) {
  const parts: Buffer[] = [];
  for (let off = from; ; ) {
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
