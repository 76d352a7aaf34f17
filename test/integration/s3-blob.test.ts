import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError, S3BlobStore } from '../../src/blob';
import { connectStack } from '../support/stack';
import { RANGE_CASES, RANGE_DATA } from '../support/blob-contract';

/**
 * S3BlobStore against the real SeaweedFS S3 server of the integration stack: the same BlobStore behaviours as the
 * fs store, plus lib-storage multipart uploads and a store with a key prefix. Each run works under its own prefix.
 */
type Stack = Awaited<ReturnType<typeof connectStack>>;
let s: Stack;
let store: S3BlobStore;
let prefixed: S3BlobStore;
const run = `s3-blob-it/${randomBytes(4).toString('hex')}`;
const k = (key: string) => `${run}/${key}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;

beforeAll(async () => {
  s = await connectStack();
  store = s.blob;
  prefixed = new S3BlobStore({ ...s.blobConfig, prefix: `${run}-prefixed/` });
});

afterAll(async () => {
  prefixed?.client.destroy();
  await s?.close();
});

/** A stream of `total` pseudo-random bytes in 1 MiB chunks (and the same bytes as one Buffer, to compare). */
function bigStream(total: number, failAfter?: number): { stream: Readable; bytes: Buffer } {
  const bytes = randomBytes(total);
  const stream = Readable.from(
    (async function* () {
      for (let off = 0; off < total; off += MiB) {
        if (failAfter !== undefined && off >= failAfter) throw new Error('source went away');
        yield bytes.subarray(off, Math.min(off + MiB, total));
      }
    })(),
  );
  return { stream, bytes };
}

describe('S3BlobStore put/get', () => {
  it('stores a Buffer, a string and a Readable stream', async () => {
    const bin = randomBytes(10_000);
    await store.put(k('a/b/c.bin'), bin);
    await store.put(k('text.txt'), 'héllo wörld');
    await store.put(k('stream.jsonl'), Readable.from([Buffer.from('line 1\n'), Buffer.from('line 2\n')]));
    expect((await store.get(k('a/b/c.bin'))).equals(bin)).toBe(true);
    expect((await store.get(k('text.txt'))).toString('utf8')).toBe('héllo wörld');
    expect((await store.get(k('stream.jsonl'))).toString()).toBe('line 1\nline 2\n');
  });

  it('records the content type when given', async () => {
    await store.put(k('doc.json'), '{"a":1}', { contentType: 'application/json' });
    const head = await store.client.send(new HeadObjectCommand({ Bucket: s.stack.bucket, Key: k('doc.json') }));
    expect(head.ContentType).toBe('application/json');
    expect(head.ContentLength).toBe(7);
  });

  it('stores an empty object', async () => {
    await store.put(k('empty'), Buffer.alloc(0));
    expect((await store.get(k('empty'))).length).toBe(0);
    expect(await store.stat(k('empty'))).toEqual({ size: 0 });
    expect((await store.getRange(k('empty'), 0, 10)).length).toBe(0);
  });

  it('overwrites an existing key', async () => {
    await store.put(k('over'), 'first version, longer');
    await store.put(k('over'), 'second');
    expect((await store.get(k('over'))).toString()).toBe('second');
    expect(await store.stat(k('over'))).toEqual({ size: 6 });
  });

  it('throws BlobNotFoundError naming the uri for a missing key', async () => {
    const err = await store.get(k('missing.json')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlobNotFoundError);
    expect((err as BlobNotFoundError).uri).toBe(`s3://${s.stack.bucket}/${k('missing.json')}`);
    expect((err as Error).message).toBe(`no object at s3://${s.stack.bucket}/${k('missing.json')}`);
  });

  it('throws BlobNotFoundError for a key that is only a prefix of other keys', async () => {
    await store.put(k('dir/file'), 'x');
    await expect(store.get(k('dir'))).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await store.stat(k('dir'))).toBeUndefined();
  });
});

describe('S3BlobStore getRange', () => {
  const data = Buffer.from(RANGE_DATA);
  beforeAll(async () => {
    await store.put(k('r'), data);
  });

  it.each(RANGE_CASES)('[%i, %i) is %j', async (start, end, expected) => {
    expect((await store.getRange(k('r'), start, end)).toString()).toBe(expected);
  });

  it('throws BlobNotFoundError for a missing key', async () => {
    await expect(store.getRange(k('missing'), 0, 10)).rejects.toBeInstanceOf(BlobNotFoundError);
  });
});

describe('S3BlobStore stat, list, delete', () => {
  it('stat gives the size, undefined for a missing key', async () => {
    await store.put(k('x/y.bin'), randomBytes(1234));
    expect(await store.stat(k('x/y.bin'))).toEqual({ size: 1234 });
    expect(await store.stat(k('x/missing'))).toBeUndefined();
  });

  it('lists 30 keys under a prefix, sorted, with sizes, and get() reads each back', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => k(`many/${String(i).padStart(2, '0')}.txt`));
    // Written in reverse so the listing order comes from sorting, not from write order.
    for (const key of [...keys].reverse()) await store.put(key, `body ${key}`);
    await store.put(k('many-not/under.txt'), 'x');
    const listed = await store.list(k('many/'));
    expect(listed.map((o) => o.key)).toEqual(keys);
    for (const o of listed) expect(o.size).toBe(Buffer.byteLength(`body ${o.key}`));
    for (const o of listed.slice(0, 5)) expect((await store.get(o.key)).toString()).toBe(`body ${o.key}`);
    // A prefix is a string prefix, not a directory.
    expect((await store.list(k('many'))).map((o) => o.key)).toEqual([...keys, k('many-not/under.txt')].sort((a, b) => a.localeCompare(b)));
    expect(await store.list(k('nothing/'))).toEqual([]);
  });

  it('deletes a key, and deleting a missing key is not an error', async () => {
    await store.put(k('d/1'), 'a');
    await store.put(k('d/2'), 'b');
    await store.delete(k('d/1'));
    expect(await store.stat(k('d/1'))).toBeUndefined();
    await expect(store.get(k('d/1'))).rejects.toBeInstanceOf(BlobNotFoundError);
    expect((await store.list(k('d/'))).map((o) => o.key)).toEqual([k('d/2')]);
    await expect(store.delete(k('d/1'))).resolves.toBeUndefined();
    await expect(store.delete(k('never/was'))).resolves.toBeUndefined();
  });
});

describe('S3BlobStore uri and key checks', () => {
  it('gives s3:// addresses for keys, prefixes and the root', () => {
    const b = s.stack.bucket;
    expect(store.uri('a/b.jsonl')).toBe(`s3://${b}/a/b.jsonl`);
    expect(store.uri('a/b/')).toBe(`s3://${b}/a/b/`);
    expect(store.uri('')).toBe(`s3://${b}/`);
    expect(prefixed.uri('a/b.jsonl')).toBe(`s3://${b}/${run}-prefixed/a/b.jsonl`);
    expect(prefixed.uri('a/')).toBe(`s3://${b}/${run}-prefixed/a/`);
    expect(prefixed.uri('')).toBe(`s3://${b}/${run}-prefixed/`);
    expect(() => store.uri('../x')).toThrow(/invalid blob key/);
  });

  it.each(['../x', '/abs', 'a//b', 'a/../b', './x', ''])('put, get, getRange, stat and delete refuse %j without touching the bucket', async (key) => {
    await expect(store.put(key, 'evil')).rejects.toThrow(/invalid blob key/);
    await expect(store.get(key)).rejects.toThrow(/invalid blob key/);
    await expect(store.getRange(key, 0, 1)).rejects.toThrow(/invalid blob key/);
    await expect(store.stat(key)).rejects.toThrow(/invalid blob key/);
    await expect(store.delete(key)).rejects.toThrow(/invalid blob key/);
    await expect(prefixed.put(key, 'evil')).rejects.toThrow(/invalid blob key/);
  });
});

describe('S3BlobStore with a prefix', () => {
  it('stores under the prefix and lists and addresses keys relative to it', async () => {
    await prefixed.put('imports/b.jsonl', 'bb');
    await prefixed.put('imports/a.jsonl', 'a');
    await prefixed.put('other.txt', 'ccc');
    expect(await prefixed.list('imports/')).toEqual([
      { key: 'imports/a.jsonl', size: 1 },
      { key: 'imports/b.jsonl', size: 2 },
    ]);
    expect((await prefixed.list('')).map((o) => o.key)).toEqual(['imports/a.jsonl', 'imports/b.jsonl', 'other.txt']);
    expect((await prefixed.get('imports/b.jsonl')).toString()).toBe('bb');
    expect((await prefixed.getRange('other.txt', 1, 10)).toString()).toBe('cc');
    expect(await prefixed.stat('other.txt')).toEqual({ size: 3 });
    // The same objects, seen without the prefix.
    expect((await store.get(`${run}-prefixed/imports/b.jsonl`)).toString()).toBe('bb');
    expect((await store.list(`${run}-prefixed/`)).map((o) => o.key)).toEqual([
      `${run}-prefixed/imports/a.jsonl`,
      `${run}-prefixed/imports/b.jsonl`,
      `${run}-prefixed/other.txt`,
    ]);
    // A missing key reports the full address.
    const err = await prefixed.get('imports/missing').catch((e: unknown) => e);
    expect((err as BlobNotFoundError).uri).toBe(`s3://${s.stack.bucket}/${run}-prefixed/imports/missing`);
    await prefixed.delete('other.txt');
    expect(await store.stat(`${run}-prefixed/other.txt`)).toBeUndefined();
  });

  it('does not see keys outside its prefix', async () => {
    await store.put(k('outside.txt'), 'x');
    expect(await prefixed.stat(`../${k('outside.txt')}`).catch(() => 'refused')).toBe('refused');
    expect((await prefixed.list('')).some((o) => o.key.includes('outside'))).toBe(false);
  });
});

describe('S3BlobStore multipart uploads', () => {
  const size = 20 * MiB + 12_345;
  let bytes: Buffer;
  const key = k('big/20mib.bin');

  beforeAll(async () => {
    const big = bigStream(size);
    bytes = big.bytes;
    await store.put(key, big.stream);
  });

  it('uploads a ~20 MiB stream in parts (multipart ETag) that reads back byte for byte', async () => {
    const head = await store.client.send(new HeadObjectCommand({ Bucket: s.stack.bucket, Key: key }));
    // lib-storage's 8 MiB parts: 3 parts, and S3 marks a multipart object's ETag with "-<parts>".
    expect(head.ETag).toMatch(/-3"?$/);
    expect(await store.stat(key)).toEqual({ size });
    const back = await store.get(key);
    expect(back.length).toBe(size);
    expect(sha(back)).toBe(sha(bytes));
  });

  it.each([
    ['across the first part boundary', 8 * MiB - 1000, 8 * MiB + 1000],
    ['across the second part boundary', 16 * MiB - 7, 16 * MiB + 7],
    ['spanning a whole part', 8 * MiB - 1, 16 * MiB + 1],
    ['up to the end, clamped', size - 500, size + 10 * MiB],
  ])('getRange %s', async (_what, start, end) => {
    const got = await store.getRange(key, start, end);
    expect(got.length).toBe(Math.min(end, size) - start);
    expect(got.equals(bytes.subarray(start, end))).toBe(true);
  });

  it('a stream that fails midway leaves no object and no unfinished multipart upload', async () => {
    const failKey = k('big/failed.bin');
    const { stream } = bigStream(20 * MiB, 12 * MiB);
    await expect(store.put(failKey, stream)).rejects.toThrow('source went away');
    expect(await store.stat(failKey)).toBeUndefined();
    await expect(store.get(failKey)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect((await store.list(k('big/'))).map((o) => o.key)).toEqual([key]);
    const unfinished = async (prefix: string) =>
      (await store.client.send(new ListMultipartUploadsCommand({ Bucket: s.stack.bucket, Prefix: prefix }))).Uploads ?? [];
    expect(await unfinished(failKey)).toEqual([]);
    // Control: the server does list an unfinished upload, so the check above can see a leaked one.
    const control = await store.client.send(new CreateMultipartUploadCommand({ Bucket: s.stack.bucket, Key: k('big/control.bin') }));
    try {
      expect((await unfinished(k('big/control.bin'))).map((u) => u.UploadId)).toEqual([control.UploadId]);
    } finally {
      await store.client.send(new AbortMultipartUploadCommand({ Bucket: s.stack.bucket, Key: k('big/control.bin'), UploadId: control.UploadId }));
    }
  });
});
