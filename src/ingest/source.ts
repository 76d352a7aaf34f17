import { statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config';
import { type BlobStore, FsBlobStore, S3BlobStore } from '../blob';
import { InputError } from '../errors';

/**
 * An import source: `s3://bucket/prefix-or-key` (any bucket, with the configured S3 endpoint and credentials) or a
 * local path (file or directory, absolute or relative). A prefix or directory imports every `*.jsonl` and
 * `*.jsonl.gz` (gzip, decompressed as it streams) under it.
 */
export interface SourceFile {
  key: string;
  uri: string;
  size: number;
}

export interface ResolvedSource {
  store: BlobStore;
  files: SourceFile[];
}

/**
 * The store a source's files are read through, and the prefix (or key) to list. A local file is read through its
 * directory, so the file's key is its name; the activity that reads chunks resolves the same way.
 */
export function storeForSource(source: string, blob: Config['blob']): { store: BlobStore; prefix: string } {
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
  if (s3) {
    const base = blob.kind === 's3' ? blob : { region: 'us-east-1', forcePathStyle: true, endpoint: undefined, credentials: undefined };
    return { store: new S3BlobStore({ ...base, bucket: s3[1]!, prefix: '' }), prefix: s3[2]! };
  }
  const local = path.resolve(source.replace(/^file:\/\//, ''));
  const st = statSync(local, { throwIfNoEntry: false });
  if (!st) throw new InputError('source', `no file or directory at ${local}`);
  return st.isFile() ? { store: new FsBlobStore(path.dirname(local)), prefix: path.basename(local) } : { store: new FsBlobStore(local), prefix: '' };
}

export async function resolveSource(source: string, blob: Config['blob']): Promise<ResolvedSource> {
  if (!source) throw new InputError('source', 'required: an s3://bucket/prefix or a local path to a .jsonl (or .jsonl.gz) file or directory');
  const { store, prefix } = storeForSource(source, blob);
  // A prefix ending in "/" (or empty) is a folder; anything else may name one object exactly.
  const exact = prefix && !prefix.endsWith('/') ? await store.stat(prefix) : undefined;
  const listed = exact ? [{ key: prefix, size: exact.size }] : (await store.list(prefix)).filter((o) => o.key.endsWith('.jsonl') || o.key.endsWith('.jsonl.gz'));
  if (listed.length === 0) throw new InputError('source', `no .jsonl or .jsonl.gz files found at ${source}`);
  return { store, files: listed.map((o) => ({ key: o.key, uri: store.uri(o.key), size: o.size })) };
}
