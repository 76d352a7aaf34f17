import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { type BlobStore, FsBlobStore, S3BlobStore } from '../blob';
import { InputError } from '../errors';
import type { SourceFile } from './source-file';
import { type AllowedSources, assertAllowedSource } from './allowed';

/**
 * An import source: `s3://bucket/prefix-or-key` (with the configured S3 endpoint and credentials) or a local path
 * (file or directory, absolute or relative), in either case under the deployment's allowed roots and buckets
 * (src/ingest/allowed.ts). A prefix or directory imports every `*.jsonl` and `*.jsonl.gz` (gzip, decompressed as it
 * streams) under it.
 */

export interface ResolvedSource {
  store: BlobStore;
  files: SourceFile[];
}

/**
 * The store a source's files are read through, and the prefix (or key) to list. A local file is read through its
 * directory, so the file's key is its name; the activity that reads chunks resolves the same way.
 */
/** Whose import it is, and what the deployment allows: every source is checked against it before any read. */
export interface SourceScope {
  tenantId: string;
  allowed: AllowedSources;
}

export function storeForSource(source: string, blob: Config['blob'], scope: SourceScope): { store: BlobStore; prefix: string } {
  assertAllowedSource(source, scope.allowed, scope.tenantId);
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
  if (s3) {
    const base = blob.kind === 's3' ? blob : { region: 'us-east-1', forcePathStyle: true, endpoint: undefined, credentials: undefined };
    return { store: new S3BlobStore({ ...base, bucket: s3[1]!, prefix: '' }), prefix: s3[2]! };
  }
  // The real path (the guard above checked it): a symlink is read where it points, never re-resolved later.
  const local = realpathSync(path.resolve(source.replace(/^file:\/\//, '')));
  const st = statSync(local, { throwIfNoEntry: false });
  if (!st) throw new InputError('source', `no file or directory at ${local}`);
  return st.isFile() ? { store: new FsBlobStore(path.dirname(local)), prefix: path.basename(local) } : { store: new FsBlobStore(local), prefix: '' };
}

export async function resolveSource(source: string, blob: Config['blob'], scope: SourceScope): Promise<ResolvedSource> {
  if (!source) throw new InputError('source', 'required: an s3://bucket/prefix or a local path to a .jsonl (or .jsonl.gz) file or directory');
  const { store, prefix } = storeForSource(source, blob, scope);
  // A prefix ending in "/" (or empty) is a folder; anything else may name one object exactly.
  const exact = prefix && !prefix.endsWith('/') ? await store.stat(prefix) : undefined;
  const listed = (
    exact ? [{ key: prefix, size: exact.size }] : (await store.list(prefix)).filter((o) => o.key.endsWith('.jsonl') || o.key.endsWith('.jsonl.gz'))
  ).filter((o) => isAllowed(store.uri(o.key), scope));
  if (listed.length === 0) throw new InputError('source', `no .jsonl or .jsonl.gz files found at ${source}`);
  return { store, files: listed.map((o) => ({ key: o.key, uri: store.uri(o.key), size: o.size })) };
}

/** A listed file outside the allowed folders (`s3://b/imports/acme` also lists `imports/acme-x/…`) is not imported. */
export function isAllowed(uri: string, scope: SourceScope): boolean {
  try {
    assertAllowedSource(uri, scope.allowed, scope.tenantId);
    return true;
  } catch (err) {
    if (err instanceof InputError) return false;
    throw err;
  }
}
