import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BlobStore } from '../blob/store';
import { ManifestIntegrityError, verifyManifest } from '../serving/manifest-hash';
import type { Manifest } from '../serving/manifest';
import { validateManifest } from '../serving/manifest-validate';
import type { S3SourceOptions } from './s3';

/**
 * Reading a manifest for the router: from a file path (or file:// URL), an http(s) URL, `s3://bucket/key`, or
 * `blob:<key>` in an injected BlobStore. The document found there is either a manifest or a pointer
 * `{ "version": N, "key": "...", "contentHash": "sha256:..." }` (what the publisher writes at
 * `manifests/<tenant>/current.json`, naming `manifests/<tenant>/v<N>.json`), which is followed once.
 *
 * A pointer's `key` is a store key: it is resolved against the root of the store the pointer lives in, which is the
 * pointer's own location with the key's folder taken off its end (`…/blobs/manifests/acme/current.json` with key
 * `manifests/acme/v3.json` → `…/blobs/manifests/acme/v3.json`); a key whose folder is not at the end of the pointer's
 * folder is taken relative to the pointer's folder. Keys are relative paths without `..`: a pointer can only name
 * objects beside it, never another host or a local file.
 *
 * Every manifest is schema-validated, its content hash checked (and its HMAC signature when a key is configured),
 * and when reached through a pointer it must be the version and content hash the pointer names.
 */

export interface ManifestPointer {
  version: number;
  key: string;
  contentHash: string;
  tenant?: string;
}

export interface LoadManifestOptions {
  /** Shared HMAC key: when set, only manifests with a valid `signature` are accepted. */
  hmacKey?: string | Buffer;
  /** Store for `blob:<key>` sources, and for `s3://` sources in its bucket (and under its prefix). */
  blobStore?: BlobStore;
  /** S3 connection for `s3://` sources the blob store does not cover (region, endpoint, credentials). */
  s3?: S3SourceOptions;
  /** HTTP: time limit per attempt (default 10 s) and retries after the first attempt (default 3). */
  timeoutMs?: number;
  retries?: number;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** A raw document read from a source, with its location (for resolving pointer keys). */
export interface RawDocument {
  location: Location;
  text: string;
  /** sha256 of the bytes, to skip re-parsing an unchanged document. */
  digest: string;
}

export type Location =
  { kind: 'file'; path: string } | { kind: 'http'; url: URL } | { kind: 's3'; bucket: string; key: string } | { kind: 'blob'; key: string };

export interface LoadedManifest {
  manifest: Manifest;
  /** The pointer followed, if the source was one. */
  pointer: ManifestPointer | null;
  /** Where the manifest itself was read. */
  location: string;
}

/** A source that cannot be read, or a document that is neither a manifest nor a pointer. */
export class ManifestSourceError extends Error {
  override readonly name = 'ManifestSourceError';
}

/** Reads, follows, validates and verifies the manifest a source names. */
export async function loadManifest(source: string, opts: LoadManifestOptions = {}): Promise<LoadedManifest> {
  const raw = await readDocument(parseLocation(source), opts);
  const doc = parseDocument(raw);
  if (doc.kind === 'manifest')
    return { manifest: await checkManifest(doc.value, describeLocation(raw.location), opts), pointer: null, location: describeLocation(raw.location) };
  return { ...(await followPointer(raw.location, doc.pointer, opts)), pointer: doc.pointer };
}

/** The manifest a pointer names, checked against it. */
export async function followPointer(at: Location, pointer: ManifestPointer, opts: LoadManifestOptions): Promise<{ manifest: Manifest; location: string }> {
  const target = resolveKey(at, pointer.key);
  const raw = await readDocument(target, opts);
  const where = describeLocation(target);
  await yieldToEventLoop();
  const doc = parseDocument(raw);
  if (doc.kind !== 'manifest') throw new ManifestSourceError(`${where}: the pointer names another pointer, not a manifest`);
  const manifest = await checkManifest(doc.value, where, opts);
  if (manifest.version !== pointer.version)
    throw new ManifestSourceError(`${where}: the pointer says version ${pointer.version} but the manifest is version ${manifest.version}`);
  if (manifest.contentHash !== pointer.contentHash) {
    throw new ManifestIntegrityError(
      'contentHash',
      `${where}: the manifest's content hash ${manifest.contentHash} is not the ${pointer.contentHash} its pointer names`,
    );
  }
  if (pointer.tenant !== undefined && pointer.tenant !== manifest.tenant)
    throw new ManifestSourceError(`${where}: the pointer is for tenant "${pointer.tenant}" but the manifest for "${manifest.tenant}"`);
  return { manifest, location: where };
}

/**
 * Schema, content hash, signature. Errors name the location. Each step of a large manifest takes tens of ms (10k
 * routes: parse ~40, validate ~70, hash ~60), so the event loop gets a turn between them: a router refreshing in
 * the background keeps answering in between.
 */
export async function checkManifest(value: unknown, where: string, opts: LoadManifestOptions): Promise<Manifest> {
  try {
    await yieldToEventLoop();
    const m = validateManifest(value);
    await yieldToEventLoop();
    verifyManifest(m, opts.hmacKey);
    return m;
  } catch (err) {
    if (err instanceof Error) err.message = `${where}: ${err.message}`;
    throw err;
  }
}

export type ParsedDocument = { kind: 'manifest'; value: unknown } | { kind: 'pointer'; pointer: ManifestPointer };

export function parseDocument(raw: RawDocument): ParsedDocument {
  const where = describeLocation(raw.location);
  let value: unknown;
  try {
    value = JSON.parse(raw.text);
  } catch (err) {
    throw new ManifestSourceError(`${where}: not JSON (${(err as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ManifestSourceError(`${where}: not a JSON object`);
  const o = value as Record<string, unknown>;
  if ('schema' in o || !('key' in o)) return { kind: 'manifest', value };
  const problems: string[] = [];
  if (!Number.isInteger(o.version) || (o.version as number) < 1) problems.push('version: must be an integer >= 1');
  if (typeof o.key !== 'string' || !isRelativeKey(o.key))
    problems.push('key: must be a relative key such as manifests/<tenant>/v<N>.json (no leading /, no ..)');
  if (typeof o.contentHash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(o.contentHash)) problems.push('contentHash: must match ^sha256:[0-9a-f]{64}$');
  if (o.tenant !== undefined && typeof o.tenant !== 'string') problems.push('tenant: must be a string');
  if (problems.length) throw new ManifestSourceError(`${where}: invalid pointer: ${problems.join('; ')}`);
  return {
    kind: 'pointer',
    pointer: { version: o.version as number, key: o.key as string, contentHash: o.contentHash as string, tenant: o.tenant as string | undefined },
  };
}

function isRelativeKey(key: string): boolean {
  return (
    key !== '' &&
    !key.startsWith('/') &&
    !key.includes('\\') &&
    !/^[a-z][a-z0-9+.-]*:/i.test(key) &&
    key.split('/').every((p) => p !== '' && p !== '.' && p !== '..')
  );
}

export function parseLocation(source: string): Location {
  if (source.startsWith('s3://')) {
    const rest = source.slice(5);
    const slash = rest.indexOf('/');
    if (slash <= 0 || slash === rest.length - 1) throw new ManifestSourceError(`${source}: an S3 source is s3://<bucket>/<key>`);
    return { kind: 's3', bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
  }
  if (source.startsWith('blob:')) {
    const key = source.slice(5).replace(/^\/+/, '');
    if (!key) throw new ManifestSourceError(`${source}: a blob source is blob:<key>, e.g. blob:manifests/acme/current.json`);
    return { kind: 'blob', key };
  }
  if (/^https?:\/\//i.test(source)) return { kind: 'http', url: new URL(source) };
  if (source.startsWith('file://')) return { kind: 'file', path: fileURLToPath(source) };
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(source))
    throw new ManifestSourceError(`${source}: unsupported source; use a file path, http(s)://, s3://<bucket>/<key> or blob:<key>`);
  return { kind: 'file', path: path.resolve(source) };
}

export function describeLocation(l: Location): string {
  switch (l.kind) {
    case 'file':
      return l.path;
    case 'http':
      return l.url.href;
    case 's3':
      return `s3://${l.bucket}/${l.key}`;
    case 'blob':
      return `blob:${l.key}`;
  }
}

/** Where a pointer's key lives, given where the pointer was read (see the module comment). */
export function resolveKey(at: Location, key: string): Location {
  if (!isRelativeKey(key)) throw new ManifestSourceError(`pointer key ${JSON.stringify(key)} must be a relative key without ..`);
  const join = (pointerPath: string, sep = '/') => {
    const dir = pointerPath.split(sep).slice(0, -1);
    const keyDir = key.split('/').slice(0, -1);
    const endsWithKeyDir = keyDir.length <= dir.length && keyDir.every((p, i) => dir[dir.length - keyDir.length + i] === p);
    const root = endsWithKeyDir ? dir.slice(0, dir.length - keyDir.length) : dir;
    return [...root, ...key.split('/')].join(sep);
  };
  switch (at.kind) {
    case 'blob':
      return { kind: 'blob', key };
    case 's3':
      return { kind: 's3', bucket: at.bucket, key: join(at.key) };
    case 'http': {
      const url = new URL(at.url.href);
      url.pathname = join(url.pathname);
      url.search = '';
      url.hash = '';
      return { kind: 'http', url };
    }
    case 'file':
      return { kind: 'file', path: join(at.path, path.sep) };
  }
}

/** Reads one document. */
export async function readDocument(l: Location, opts: LoadManifestOptions): Promise<RawDocument> {
  const bytes = await readBytes(l, opts);
  return { location: l, text: bytes.toString('utf8'), digest: createHash('sha256').update(bytes).digest('hex') };
}

async function readBytes(l: Location, opts: LoadManifestOptions): Promise<Buffer> {
  const where = describeLocation(l);
  switch (l.kind) {
    case 'file':
      try {
        return await readFile(l.path);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new ManifestSourceError(code === 'ENOENT' ? `${where}: no such file` : `${where}: cannot read (${(err as Error).message})`);
      }
    case 'http':
      return fetchWithRetries(l.url, opts);
    case 'blob':
      if (!opts.blobStore) throw new ManifestSourceError(`${where}: a blob: source needs a blob store`);
      return getBlob(opts.blobStore, l.key, where);
    case 's3': {
      const store = await s3StoreFor(l.bucket, l.key, opts);
      return getBlob(store.store, store.key, where);
    }
  }
}

async function getBlob(store: BlobStore, key: string, where: string): Promise<Buffer> {
  try {
    return await store.get(key);
  } catch (err) {
    throw new ManifestSourceError(
      `${where}: ${err instanceof Error && err.name === 'BlobNotFoundError' ? 'no such object' : `cannot read (${(err as Error).message})`}`,
    );
  }
}

const s3Stores = new Map<string, BlobStore>();

/** The injected blob store when it covers the bucket (and prefix), else a client for the bucket (loaded on demand). */
async function s3StoreFor(bucket: string, key: string, opts: LoadManifestOptions): Promise<{ store: BlobStore; key: string }> {
  const b = opts.blobStore;
  if (b?.kind === 's3') {
    const root = b.uri('');
    const base = `s3://${bucket}/`;
    if (root.startsWith(base)) {
      const prefix = root.slice(base.length);
      if (key.startsWith(prefix)) return { store: b, key: key.slice(prefix.length) };
    }
  }
  // Keeps @aws-sdk out of the router's import graph unless an s3:// source is used.
  const { s3BlobStore, s3CacheKey } = await import('./s3');
  const cacheKey = s3CacheKey(bucket, opts.s3);
  let store = s3Stores.get(cacheKey);
  if (!store) {
    store = s3BlobStore(bucket, opts.s3);
    s3Stores.set(cacheKey, store);
  }
  return { store, key };
}

const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

async function fetchWithRetries(url: URL, opts: LoadManifestOptions): Promise<Buffer> {
  const doFetch = opts.fetch ?? globalThis.fetch;
  const retries = opts.retries ?? 3;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let last = '';
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) await sleep(Math.min(5_000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
    try {
      const res = await doFetch(url, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json', 'cache-control': 'no-cache' },
        redirect: 'follow',
      });
      if (res.ok) return Buffer.from(await res.arrayBuffer());
      last = `HTTP ${res.status} ${res.statusText}`.trim();
      await res.body?.cancel().catch(() => undefined);
      if (!RETRY_STATUS.has(res.status)) break;
    } catch (err) {
      const e = err as Error;
      last = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : ((e.cause as Error | undefined)?.message ?? e.message);
    }
  }
  throw new ManifestSourceError(`${url.href}: ${last}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));
