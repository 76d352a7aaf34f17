import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdapterDigestMismatchError, cachedAdapter } from '../../src/adapters/cache';
import { folderDigest } from '../../src/adapters/digest';
import { type ExportableAdapter, exportAdapters } from '../../src/adapters/export';
import { FsBlobStore } from '../../src/blob/fs';
import { uploadDir } from '../../src/distill/blob-dirs';
import { InputError } from '../../src/errors';
import { resolveBaseModel } from '../../src/models/registry';

let tmp: string;
let blob: FsBlobStore;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function adapterFolder(dir: string, r = 8, weights = 'w1'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ r, base_model_name_or_path: 'smollm2-135m-instruct' }));
  writeFileSync(path.join(dir, 'adapter_model.safetensors'), weights);
  return dir;
}

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'distillery-adapters-'));
  blob = new FsBlobStore(path.join(tmp, 'blobs'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('folderDigest', () => {
  it('is sha256 over "path\\0sha256(file)\\n" by sorted path, dot-files left out (as base_models.py computes it)', async () => {
    const dir = path.join(tmp, 'a');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'b.txt'), 'bee');
    writeFileSync(path.join(dir, 'sub', 'a.txt'), 'ay');
    writeFileSync(path.join(dir, '.uploaded'), '');
    const want = createHash('sha256')
      .update(`b.txt\0${sha('bee')}\nsub/a.txt\0${sha('ay')}\n`)
      .digest('hex');
    expect(await folderDigest(dir)).toBe(`sha256:${want}`);
    writeFileSync(path.join(dir, 'b.txt'), 'bee!');
    expect(await folderDigest(dir)).not.toBe(`sha256:${want}`);
  });
});

describe('cachedAdapter', () => {
  it('fetches once by digest, verifies, and reuses the cached copy', async () => {
    const src = adapterFolder(path.join(tmp, 'src'));
    await uploadDir(blob, src, 'adapters/ft_1');
    const digest = await folderDigest(src);
    const cache = path.join(tmp, 'cache');
    const dir = await cachedAdapter(blob, 'adapters/ft_1', digest, cache);
    expect(dir).toBe(path.join(cache, digest.slice('sha256:'.length)));
    expect(await folderDigest(dir)).toBe(digest);
    await blob.delete('adapters/ft_1/adapter_model.safetensors'); // a cached adapter needs no second fetch
    expect(await cachedAdapter(blob, 'adapters/ft_1/', digest, cache)).toBe(dir);
  });

  it('refuses files whose digest is not the recorded one, and leaves nothing in the cache', async () => {
    await uploadDir(blob, adapterFolder(path.join(tmp, 'src')), 'adapters/ft_2');
    const other = await folderDigest(adapterFolder(path.join(tmp, 'other'), 8, 'w2'));
    const cache = path.join(tmp, 'cache');
    await expect(cachedAdapter(blob, 'adapters/ft_2', other, cache)).rejects.toBeInstanceOf(AdapterDigestMismatchError);
    expect(existsSync(path.join(cache, other.slice(7)))).toBe(false);
    await expect(cachedAdapter(blob, 'adapters/ft_2', 'md5:abc', cache)).rejects.toThrow(/not an adapter digest/);
  });
});

describe('exportAdapters', () => {
  async function registered(name: string, r: number, weights: string): Promise<ExportableAdapter> {
    const src = adapterFolder(path.join(tmp, name), r, weights);
    await uploadDir(blob, src, `adapters/${name}`);
    return { name, baseModel: 'smollm2-135m-instruct', adapterDigest: await folderDigest(src), prefix: `adapters/${name}` };
  }

  it('vllm: adapter folders, lora-modules.json and a serve script with every module and the largest rank', async () => {
    const ads = [await registered('t-a', 8, 'x'), await registered('t-b', 16, 'y')];
    const out = path.join(tmp, 'out');
    const r = await exportAdapters(blob, ads, 'vllm', out, path.join(tmp, 'cache'));
    expect(Object.keys(r.dirs)).toEqual(['t-a', 't-b']);
    expect(readFileSync(path.join(out, 'adapters', 't-b', 'adapter_model.safetensors'), 'utf8')).toBe('y');
    expect(JSON.parse(readFileSync(path.join(out, 'lora-modules.json'), 'utf8'))).toEqual([
      { name: 't-a', path: 'adapters/t-a', base_model_name: 'smollm2-135m-instruct' },
      { name: 't-b', path: 'adapters/t-b', base_model_name: 'smollm2-135m-instruct' },
    ]);
    const sh = readFileSync(path.join(out, 'serve-vllm.sh'), 'utf8');
    expect(sh).toMatch(/--enable-lora/);
    expect(sh).toMatch(/--max-lora-rank 16/);
    expect(sh.match(/--lora-modules/g)).toHaveLength(2);
  });

  it('lorax: adapters.json maps each name to its local adapter id; one base at a time', async () => {
    const a = await registered('t-a', 8, 'x');
    const out = path.join(tmp, 'out');
    await exportAdapters(blob, [a], 'lorax', out, path.join(tmp, 'cache'));
    expect(JSON.parse(readFileSync(path.join(out, 'adapters.json'), 'utf8'))).toEqual({
      base: 'smollm2-135m-instruct',
      adapters: { 't-a': { adapter_id: 'adapters/t-a', adapter_source: 'local', digest: a.adapterDigest } },
    });
    expect(readFileSync(path.join(out, 'serve-lorax.sh'), 'utf8')).toMatch(/lorax-launcher --model-id "\$BASE_MODEL_DIR" --adapter-source local/);
    await expect(exportAdapters(blob, [a, { ...a, name: 'x', baseModel: 'other' }], 'lorax', out, tmp)).rejects.toBeInstanceOf(InputError);
    await expect(exportAdapters(blob, [], 'vllm', out, tmp)).rejects.toBeInstanceOf(InputError);
  });
});

describe('resolveBaseModel', () => {
  it('a registered name gives its folder and digest; a folder is named after itself; anything else is an InputError', () => {
    const models = path.join(tmp, 'models');
    mkdirSync(path.join(models, 'm1'), { recursive: true });
    const digest = `sha256:${'ab'.repeat(32)}`;
    writeFileSync(
      path.join(models, 'base-models.json'),
      JSON.stringify({ models: { 'model-one': { name: 'model-one', source: 'pypi:x==1/y.gguf', digest, path: 'm1', addedAt: '2026-12-01T00:00:00Z' } } }),
    );
    expect(resolveBaseModel('model-one', models)).toEqual({ name: 'model-one', digest, folder: path.join(models, 'm1') });
    expect(resolveBaseModel(path.join(models, 'm1'), models)).toEqual({ name: 'model-one', digest, folder: path.join(models, 'm1') });
    const loose = path.join(tmp, 'my-model');
    mkdirSync(loose);
    expect(resolveBaseModel(loose, models)).toEqual({ name: 'my-model', folder: loose });
    expect(() => resolveBaseModel('nope', models)).toThrow(InputError);
  });
});
