import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BlobStore, FsBlobStore } from '../../src/blob';
import { CheckpointStore, downloadDir, uploadDir } from '../../src/distill/blob-dirs';

let tmp: string;
let blob: FsBlobStore;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'distillery-ckpt-'));
  blob = new FsBlobStore(path.join(tmp, 'blobs'));
});

afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Every file under a directory: relative path (with '/') → contents. */
function tree(dir: string): Record<string, Buffer> {
  if (!existsSync(dir)) return {};
  const out: Record<string, Buffer> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')] = readFileSync(path.join(e.parentPath, e.name));
  }
  return out;
}

function writeTree(dir: string, files: Record<string, Buffer | string>): void {
  for (const [rel, body] of Object.entries(files)) {
    const target = path.join(dir, ...rel.split('/'));
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, body);
  }
}

/** A checkpoint as the trainer writes it: adapter weights, optimizer state, trainer state, nested RNG state. */
function checkpoint(step: number): Record<string, Buffer> {
  return {
    'adapter_model.safetensors': randomBytes(300_000 + step),
    'adapter_config.json': Buffer.from(JSON.stringify({ r: 8, step })),
    'optimizer.pt': randomBytes(50_000),
    'trainer_state.json': Buffer.from(JSON.stringify({ global_step: step })),
    'rng/cpu.bin': randomBytes(64),
    'rng/cuda/device-0.bin': randomBytes(64),
    'empty.txt': Buffer.alloc(0),
  };
}

/** A blob store that fails the Nth put (1-based) from now on, and forwards everything else. */
class FailingBlobStore implements BlobStore {
  readonly kind = 'fs' as const;
  puts: string[] = [];
  failAt = Infinity;
  constructor(private readonly inner: BlobStore) {}
  uri(key: string) {
    return this.inner.uri(key);
  }
  async put(key: string, body: Buffer | string | Readable) {
    this.puts.push(key);
    if (this.puts.length === this.failAt) {
      if (typeof body === 'object' && 'destroy' in body) body.destroy();
      throw new Error(`injected failure on put ${this.failAt} (${key})`);
    }
    return this.inner.put(key, body);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  getRange(key: string, start: number, end: number) {
    return this.inner.getRange(key, start, end);
  }
  stat(key: string) {
    return this.inner.stat(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

describe('uploadDir / downloadDir', () => {
  it('round-trips a nested directory byte for byte and returns the keys', async () => {
    const src = path.join(tmp, 'src');
    const files = { ...checkpoint(7), 'deep/er/still/file with spaces.txt': 'ünïcode ✓\n', 'deep/bin.dat': randomBytes(1 << 20) };
    writeTree(src, files);

    const keys = await uploadDir(blob, src, 'adapters/a1');
    expect([...keys].sort()).toEqual(
      Object.keys(files)
        .map((k) => `adapters/a1/${k}`)
        .sort(),
    );
    expect((await blob.list('adapters/a1/')).map((o) => o.key)).toEqual([...keys].sort());

    const dst = path.join(tmp, 'dst');
    expect(await downloadDir(blob, 'adapters/a1', dst)).toBe(Object.keys(files).length);
    const got = tree(dst);
    expect(Object.keys(got).sort()).toEqual(Object.keys(files).sort());
    for (const [rel, body] of Object.entries(files)) expect(got[rel]!.equals(Buffer.from(body)), rel).toBe(true);
  });

  it('downloads only the objects under that exact prefix (not a sibling sharing its start)', async () => {
    await blob.put('ckpt/step-1/a.bin', 'one');
    await blob.put('ckpt/step-10/a.bin', 'ten');
    await blob.put('ckpt/step-10/b.bin', 'ten-b');
    const dst = path.join(tmp, 'dst');
    expect(await downloadDir(blob, 'ckpt/step-1', dst)).toBe(1);
    expect(tree(dst)).toEqual({ 'a.bin': Buffer.from('one') });
  });

  it('uploads nothing for an empty directory and downloads nothing for an unknown prefix', async () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(path.join(empty, 'sub'), { recursive: true });
    expect(await uploadDir(blob, empty, 'x')).toEqual([]);
    expect(await downloadDir(blob, 'nothing/here', path.join(tmp, 'dst'))).toBe(0);
  });
});

describe('CheckpointStore', () => {
  it('restores nothing (undefined) when no checkpoint was ever saved', async () => {
    const store = new CheckpointStore(blob, 'jobs/j1/checkpoints');
    const dir = path.join(tmp, 'work', 'checkpoints');
    expect(await store.restore(dir)).toBeUndefined();
    expect(tree(dir)).toEqual({});
  });

  it('restores the latest checkpoint into checkpointsDir/step-N and returns N', async () => {
    const store = new CheckpointStore(blob, 'jobs/j1/checkpoints');
    const [c10, c20] = [checkpoint(10), checkpoint(20)];
    writeTree(path.join(tmp, 'run', 'checkpoint-10'), c10);
    writeTree(path.join(tmp, 'run', 'checkpoint-20'), c20);
    await store.save(path.join(tmp, 'run', 'checkpoint-10'), 10);
    await store.save(path.join(tmp, 'run', 'checkpoint-20'), 20);
    expect((await blob.get('jobs/j1/checkpoints/LATEST')).toString()).toBe('step-20');

    // another machine, an empty work dir
    const dir = path.join(tmp, 'other-machine', 'checkpoints');
    expect(await new CheckpointStore(blob, 'jobs/j1/checkpoints').restore(dir)).toBe(20);
    expect(readdirSync(dir)).toEqual(['step-20']);
    const got = tree(path.join(dir, 'step-20'));
    expect(Object.keys(got).sort()).toEqual(Object.keys(c20).sort());
    for (const [rel, body] of Object.entries(c20)) expect(got[rel]!.equals(body), rel).toBe(true);
  });

  it("keeps jobs apart: one job's checkpoints are not another's", async () => {
    writeTree(path.join(tmp, 'c'), checkpoint(5));
    await new CheckpointStore(blob, 'jobs/j1/checkpoints').save(path.join(tmp, 'c'), 5);
    expect(await new CheckpointStore(blob, 'jobs/j2/checkpoints').restore(path.join(tmp, 'r'))).toBeUndefined();
  });

  it('switches LATEST only after every file of the checkpoint is stored: a failed upload leaves the previous step', async () => {
    const failing = new FailingBlobStore(blob);
    const store = new CheckpointStore(failing, 'jobs/j1/checkpoints');
    const [c10, c20] = [checkpoint(10), checkpoint(20)];
    writeTree(path.join(tmp, 'c10'), c10);
    writeTree(path.join(tmp, 'c20'), c20);
    await store.save(path.join(tmp, 'c10'), 10);
    const n = Object.keys(c20).length;
    expect(failing.puts).toHaveLength(Object.keys(c10).length + 1);
    expect(failing.puts.at(-1)).toBe('jobs/j1/checkpoints/LATEST');

    // every possible failure point of the second save: each file, then LATEST itself
    for (let k = 1; k <= n + 1; k++) {
      failing.puts = [];
      failing.failAt = k;
      await expect(store.save(path.join(tmp, 'c20'), 20)).rejects.toThrow('injected failure');
      expect(failing.puts.slice(0, -1)).not.toContain('jobs/j1/checkpoints/LATEST');
      expect((await blob.get('jobs/j1/checkpoints/LATEST')).toString()).toBe('step-10');
      const dir = path.join(tmp, `restore-${k}`);
      expect(await store.restore(dir)).toBe(10);
      expect(readdirSync(dir)).toEqual(['step-10']);
      const got = tree(path.join(dir, 'step-10'));
      for (const [rel, body] of Object.entries(c10)) expect(got[rel]!.equals(body), rel).toBe(true);
    }
    // the last put of a successful save is LATEST
    failing.puts = [];
    failing.failAt = Infinity;
    await store.save(path.join(tmp, 'c20'), 20);
    expect(failing.puts.indexOf('jobs/j1/checkpoints/LATEST')).toBe(n);
    expect(await store.restore(path.join(tmp, 'restore-final'))).toBe(20);
  });

  it('with a fingerprint: restores a checkpoint of the same training, refuses one of other data or config (or none recorded)', async () => {
    writeTree(path.join(tmp, 'c'), checkpoint(10));
    await new CheckpointStore(blob, 'jobs/j1/checkpoints', { fingerprint: 'fp-a' }).save(path.join(tmp, 'c'), 10);
    expect((await blob.get('jobs/j1/checkpoints/step-10.fingerprint')).toString()).toBe('fp-a');
    expect(await new CheckpointStore(blob, 'jobs/j1/checkpoints', { fingerprint: 'fp-a' }).restore(path.join(tmp, 'same'))).toBe(10);
    expect(readdirSync(path.join(tmp, 'same'))).toEqual(['step-10']);

    const reasons: string[] = [];
    const other = new CheckpointStore(blob, 'jobs/j1/checkpoints', { fingerprint: 'fp-b', onRefused: (r) => reasons.push(r) });
    expect(await other.restore(path.join(tmp, 'other'))).toBeUndefined();
    expect(tree(path.join(tmp, 'other'))).toEqual({});
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/fp-a.*not fp-b/);

    // a checkpoint saved without one (older code): unknown provenance, not restored
    await new CheckpointStore(blob, 'jobs/j2/checkpoints').save(path.join(tmp, 'c'), 10);
    expect(
      await new CheckpointStore(blob, 'jobs/j2/checkpoints', { fingerprint: 'fp-a', onRefused: (r) => reasons.push(r) }).restore(path.join(tmp, 'j2')),
    ).toBeUndefined();
    expect(reasons[1]).toMatch(/no fingerprint/);
  });
});
