import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FsBlobStore } from '../../src/blob/fs';
import type { BlobStore } from '../../src/blob/store';
import { normalizeQuery } from '../../src/serving/normalize';
import { ManifestIntegrityError, sealManifest } from '../../src/serving/manifest-hash';
import type { Manifest } from '../../src/serving/manifest';
import { Router, loadManifest } from '../../src/router';
import { resolveKey, parseLocation } from '../../src/router/source';
import { HashingEmbedder, syntheticManifest } from '../../src/router/synthetic';

const embedder = new HashingEmbedder(32);
const centroid = (q: string) => embedder.vector(normalizeQuery(q).text);

/** Version N answers the order question with "vN: order <id>". */
function version(n: number, opts: { hmacKey?: string; model?: string } = {}): Manifest {
  return syntheticManifest({
    dims: 32,
    version: n,
    model: opts.model,
    hmacKey: opts.hmacKey,
    routes: [
      {
        id: 'c_order',
        tier: 'template',
        centroid: centroid('where is my order 12345'),
        target: { template: `v${n}: order {{id}}`, script: null, candidateId: 'cand', version: n },
      },
      {
        id: 'c_cancel',
        tier: 'adapter',
        centroid: centroid('cancel my subscription'),
        target: { adapter: `cancel-v${n}`, baseModel: 'base', uri: 's3://b/a/' },
      },
    ],
  });
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'router-refresh-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh store folder per test, laid out as the publisher lays it out. */
async function store(): Promise<{
  dir: string;
  put: (m: Manifest, raw?: string) => Promise<void>;
  point: (m: Pick<Manifest, 'version' | 'contentHash'>, key?: string) => Promise<void>;
  pointer: string;
}> {
  const dir = await mkdtemp(path.join(root, 'store-'));
  await mkdir(path.join(dir, 'manifests/acme'), { recursive: true });
  return {
    dir,
    pointer: path.join(dir, 'manifests/acme/current.json'),
    put: (m, raw) => writeFile(path.join(dir, `manifests/acme/v${m.version}.json`), raw ?? JSON.stringify(m, null, 2)),
    point: (m, key) =>
      writeFile(
        path.join(dir, 'manifests/acme/current.json'),
        JSON.stringify({ tenant: 'acme', version: m.version, key: key ?? `manifests/acme/v${m.version}.json`, contentHash: m.contentHash }),
      ),
  };
}

const answer = async (router: Router) => (await router.resolve('Where is my order 777?')).answer;

describe('Router', () => {
  it('loads through a pointer, resolves queries, and follows the pointer forward and back (rollback)', async () => {
    const s = await store();
    const [v1, v2] = [version(1), version(2)];
    await s.put(v1);
    await s.put(v2);
    await s.point(v1);
    const changes: unknown[] = [];
    const router = await Router.create({ source: s.pointer, embedder, onChange: (c) => changes.push(c) });
    expect(router.version).toBe(1);
    expect(router.serving).toMatchObject({ tenant: 'acme', version: 1, pointer: { version: 1 }, location: path.join(s.dir, 'manifests/acme/v1.json') });
    expect(await answer(router)).toBe('v1: order 777');
    expect(await router.resolve('cancel my subscription')).toMatchObject({ tier: 'adapter', adapter: { adapter: 'cancel-v1' } });

    expect(await router.refresh()).toEqual({ status: 'unchanged', version: 1 });

    await s.point(v2);
    expect(await router.refresh()).toEqual({ status: 'updated', version: 2, from: 1 });
    expect(await answer(router)).toBe('v2: order 777');

    // Rollback is a pointer switch to an earlier version, and the router follows it.
    await s.point(v1);
    expect(await router.refresh()).toEqual({ status: 'rolled-back', version: 1, from: 2 });
    expect(await answer(router)).toBe('v1: order 777');
    expect(changes).toEqual([
      { from: 1, to: 2, kind: 'update', location: path.join(s.dir, 'manifests/acme/v2.json') },
      { from: 2, to: 1, kind: 'rollback', location: path.join(s.dir, 'manifests/acme/v1.json') },
    ]);
    router.close();
  });

  it('refuses a manifest with a bad hash and keeps the old one in service', async () => {
    const s = await store();
    const v1 = version(1);
    await s.put(v1);
    await s.point(v1);
    const errors: Error[] = [];
    const router = await Router.create({ source: s.pointer, embedder, onError: (e) => errors.push(e) });

    // v2 altered after sealing: its contentHash no longer matches its content.
    const v2 = version(2);
    const tampered = { ...v2, fallback: { tier: 'cheap', model: 'cheaper' } };
    await s.put(v2, JSON.stringify(tampered));
    await s.point(v2);
    const r = await router.refresh();
    expect(r.status).toBe('failed');
    expect(r.version).toBe(1);
    expect((r as { error: Error }).error).toBeInstanceOf(ManifestIntegrityError);
    expect((r as { error: Error }).error.message).toMatch(/v2\.json: contentHash: does not match/);
    expect(errors).toHaveLength(1);
    expect(router.version).toBe(1);
    expect(await answer(router)).toBe('v1: order 777');

    // A valid manifest that is not the one the pointer names (other content hash) is refused too.
    const v3 = version(3);
    await s.put(v3);
    await s.point({ version: 3, contentHash: v2.contentHash });
    expect((await router.refresh()).status).toBe('failed');
    expect(errors.at(-1)!.message).toMatch(/not the sha256:[0-9a-f]+ its pointer names/);

    // A pointer to a version whose file is missing: refused, and later the fix is picked up.
    await s.point(version(4));
    expect((await router.refresh()).status).toBe('failed');
    expect(errors.at(-1)!.message).toMatch(/v4\.json: no such file/);
    await s.point(v3);
    expect(await router.refresh()).toEqual({ status: 'updated', version: 3, from: 1 });
    expect(errors).toHaveLength(3);
  });

  it('refuses a first manifest with a bad hash, an invalid one naming the field, and another embedding model', async () => {
    const s = await store();
    const v1 = version(1);
    await s.put(v1, JSON.stringify({ ...v1, tenant: 'other' }));
    await s.point(v1);
    await expect(Router.create({ source: s.pointer, embedder })).rejects.toThrow(/contentHash: does not match/);

    const invalid = sealManifest({ ...version(1), routes: [{ ...version(1).routes[0]!, tier: 'adapter' }] });
    await s.put(invalid);
    await s.point(invalid);
    await expect(Router.create({ source: s.pointer, embedder })).rejects.toThrow(/routes\[0\]\.target: does not fit tier "adapter"/);

    const other = version(1, { model: 'local:all-MiniLM-L6-v2' });
    await s.put(other);
    await s.point(other);
    await expect(Router.create({ source: s.pointer, embedder })).rejects.toThrow(
      /embedded with "local:all-MiniLM-L6-v2" but this router embeds queries with "test:hashing"/,
    );
  });

  it('with an HMAC key, accepts only manifests signed with it', async () => {
    const s = await store();
    const key = 'k3y';
    const v1 = version(1, { hmacKey: key });
    await s.put(v1);
    await s.point(v1);
    const router = await Router.create({ source: s.pointer, embedder, hmacKey: key });
    expect(router.version).toBe(1);

    const unsigned = version(2);
    await s.put(unsigned);
    await s.point(unsigned);
    expect((await router.refresh()).status).toBe('failed');
    const otherKey = version(2, { hmacKey: 'not-the-key' });
    await s.put(otherKey);
    await s.point(otherKey);
    const r = await router.refresh();
    expect(r.status === 'failed' && r.error.message).toMatch(/signature: does not verify/);
    expect(router.version).toBe(1);
    await expect(Router.create({ source: s.pointer, embedder, hmacKey: key })).rejects.toThrow(/signature/);
  });

  it('a direct manifest source only moves forward', async () => {
    const s = await store();
    const file = path.join(s.dir, 'manifest.json');
    await writeFile(file, JSON.stringify(version(2)));
    const router = await Router.create({ source: file, embedder });
    expect(router.serving.pointer).toBeNull();
    await writeFile(file, JSON.stringify(version(3)));
    expect(await router.refresh()).toEqual({ status: 'updated', version: 3, from: 2 });
    await writeFile(file, JSON.stringify(version(1)));
    const back = await router.refresh();
    expect(back.status === 'failed' && back.error.message).toMatch(/holds v1, older than v3 in service; refused/);
    expect(router.version).toBe(3);
    // Same content with other formatting: unchanged.
    await writeFile(file, JSON.stringify(version(3), null, 4));
    expect(await router.refresh()).toEqual({ status: 'unchanged', version: 3 });
  });

  it('refreshes on a timer', async () => {
    const s = await store();
    await s.put(version(1));
    await s.put(version(2));
    await s.point(version(1));
    const router = await Router.create({ source: s.pointer, embedder, refreshMs: 20 });
    await s.point(version(2));
    await vi.waitFor(() => expect(router.version).toBe(2), { timeout: 2000, interval: 10 });
    router.close();
  });

  it('reads blob:<key> and s3:// sources through the injected blob store', async () => {
    const s = await store();
    await s.put(version(1));
    await s.point(version(1));
    const fs = new FsBlobStore(s.dir);
    const viaBlob = await Router.create({ source: 'blob:manifests/acme/current.json', embedder, blobStore: fs });
    expect(viaBlob.serving.location).toBe('blob:manifests/acme/v1.json');

    // An S3 store with a prefix: s3://bucket/<prefix><key> maps to the store's key.
    const reads: string[] = [];
    const s3: BlobStore = {
      kind: 's3',
      uri: (k) => `s3://bucket/tenants/${k}`,
      get: async (k) => {
        reads.push(k);
        return fs.get(k);
      },
      put: async () => undefined,
      getRange: async () => Buffer.alloc(0),
      stat: async () => undefined,
      list: async () => [],
      delete: async () => undefined,
    };
    const viaS3 = await Router.create({ source: 's3://bucket/tenants/manifests/acme/current.json', embedder, blobStore: s3 });
    expect(viaS3.serving.location).toBe('s3://bucket/tenants/manifests/acme/v1.json');
    expect(reads).toEqual(['manifests/acme/current.json', 'manifests/acme/v1.json']);
    expect(await answer(viaS3)).toBe('v1: order 777');
  });
});

describe('Router refusals', () => {
  it('embeds the normalised, masked text of the query', async () => {
    const s = await store();
    await s.put(version(1));
    await s.point(version(1));
    const seen: string[][] = [];
    const spy = { id: embedder.id, dims: embedder.dims, embed: async (texts: string[]) => (seen.push(texts), embedder.embed(texts)) };
    const router = await Router.create({ source: s.pointer, embedder: spy });
    await router.resolve('  Where is   my ORDER #A-77812?? ');
    expect(seen).toEqual([['where is my order <id>?']]);
  });

  it('refuses a pointer to another tenant, and a version whose content changed', async () => {
    const s = await store();
    const v1 = version(1);
    await s.put(v1);
    await s.point(v1);
    const router = await Router.create({ source: s.pointer, embedder });
    const other = syntheticManifest({ tenant: 'globex', version: 2, dims: 32, routes: [] });
    await s.put(other);
    await s.point(other);
    const r1 = await router.refresh();
    expect(r1.status === 'failed' && r1.error.message).toMatch(/the pointer is for tenant "acme" but the manifest for "globex"/);
    // v1 republished with other content under the same version number.
    const v1b = sealManifest({ ...v1, models: { cheap: 'x', frontier: 'y' } });
    await s.put(v1b);
    await s.point(v1b);
    const r2 = await router.refresh();
    expect(r2.status === 'failed' && r2.error.message).toMatch(/names v1 with content hash .* but v1 in service has .*never changes/);
    expect(router.serving.contentHash).toBe(v1.contentHash);
  });

  it('says what is wrong with a source that is not a manifest', async () => {
    const s = await store();
    const file = path.join(s.dir, 'x.json');
    await writeFile(file, '{"version": 1, "key": "../v1.json", "contentHash": "sha256:00"}');
    await expect(loadManifest(file)).rejects.toThrow(/invalid pointer: key: must be a relative key .*; contentHash: must match/);
    await writeFile(file, 'not json');
    await expect(loadManifest(file)).rejects.toThrow(`${file}: not JSON`);
    await writeFile(file, '[1, 2]');
    await expect(loadManifest(file)).rejects.toThrow(`${file}: not a JSON object`);
    await writeFile(file, '{"hello": "world"}');
    await expect(loadManifest(file)).rejects.toThrow(/manifest: invalid \(\d+ problems\):\n {2}schema: is required/);
    await expect(loadManifest('blob:manifests/acme/current.json')).rejects.toThrow(/needs a blob store/);
    await expect(loadManifest('s3://bucket-only')).rejects.toThrow(/s3:\/\/<bucket>\/<key>/);
    await expect(loadManifest('ftp://host/m.json')).rejects.toThrow(/unsupported source/);
    await writeFile(file, JSON.stringify(version(1)));
    expect((await loadManifest(file)).manifest.version).toBe(1);
  });
});

describe('HTTP sources', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const failNext = new Map<string, number>();
  beforeAll(async () => {
    const s = await store();
    dir = s.dir;
    await s.put(version(1));
    await s.point(version(1));
    server = createServer(async (req, res) => {
      const p = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      const fails = failNext.get(p) ?? 0;
      if (fails > 0) {
        failNext.set(p, fails - 1);
        res.writeHead(503).end('busy');
        return;
      }
      const body = await readFile(path.join(dir, p.replace(/^\/static/, ''))).catch(() => null);
      if (body) res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      else res.writeHead(404).end('not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('follows a pointer over HTTP, retrying 5xx answers', async () => {
    failNext.set('/static/manifests/acme/current.json', 2);
    failNext.set('/static/manifests/acme/v1.json', 1);
    const loaded = await loadManifest(`${base}/static/manifests/acme/current.json`, {});
    expect(loaded.manifest.version).toBe(1);
    expect(loaded.location).toBe(`${base}/static/manifests/acme/v1.json`);
    expect(failNext.get('/static/manifests/acme/current.json')).toBe(0);
  });

  it('gives up with a clear message on 404 and after the retries', async () => {
    await expect(loadManifest(`${base}/static/nothing.json`)).rejects.toThrow(`${base}/static/nothing.json: HTTP 404 Not Found`);
    failNext.set('/static/manifests/acme/v1.json', 10);
    await expect(loadManifest(`${base}/static/manifests/acme/v1.json`, { retries: 1 })).rejects.toThrow(/HTTP 503/);
    failNext.clear();
  });

  it('times out a silent server', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/m.json`;
    await expect(loadManifest(url, { timeoutMs: 50, retries: 1 })).rejects.toThrow(`${url}: no answer within 50 ms`);
    silent.closeAllConnections();
    await new Promise<void>((r) => silent.close(() => r()));
  });
});

describe('pointer keys', () => {
  it('resolve against the store root the pointer lives in', () => {
    const key = 'manifests/acme/v3.json';
    expect(resolveKey(parseLocation('/data/blobs/manifests/acme/current.json'), key)).toEqual({ kind: 'file', path: '/data/blobs/manifests/acme/v3.json' });
    expect(resolveKey(parseLocation('/elsewhere/current.json'), key)).toEqual({ kind: 'file', path: '/elsewhere/manifests/acme/v3.json' });
    expect(resolveKey(parseLocation('s3://b/pre/manifests/acme/current.json'), key)).toEqual({ kind: 's3', bucket: 'b', key: 'pre/manifests/acme/v3.json' });
    expect(resolveKey(parseLocation('https://cdn.example/x/manifests/acme/current.json?sig=1'), 'v3.json')).toMatchObject({
      url: new URL('https://cdn.example/x/manifests/acme/v3.json'),
    });
    expect(resolveKey(parseLocation('blob:manifests/acme/current.json'), key)).toEqual({ kind: 'blob', key });
  });

  it('refuse keys that leave the store', () => {
    for (const bad of ['../secrets.json', '/etc/passwd', 'https://evil.example/m.json', 'a//b.json', 'file:///etc/passwd']) {
      expect(() => resolveKey(parseLocation('/data/current.json'), bad)).toThrow(/relative key/);
    }
  });
});
