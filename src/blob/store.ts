import type { Readable } from 'node:stream';

/**
 * Where large things live (import files, reports, datasets, adapters, manifests): S3 in production, a directory on
 * the embedded default. Keys are '/'-separated relative paths; `uri()` gives the canonical address to record.
 */
export interface BlobStore {
  readonly kind: 's3' | 'fs';
  /** Canonical address of a key, or of a prefix when it ends in '/' ('' is the store's root). */
  uri(key: string): string;
  put(key: string, body: Buffer | string | Readable, opts?: { contentType?: string }): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** Bytes [start, end) of an object; `end` past the object's size is clamped. */
  getRange(key: string, start: number, end: number): Promise<Buffer>;
  stat(key: string): Promise<{ size: number } | undefined>;
  list(prefix: string): Promise<Array<{ key: string; size: number }>>;
  delete(key: string): Promise<void>;
}

export class BlobNotFoundError extends Error {
  override readonly name = 'BlobNotFoundError';
  constructor(readonly uri: string) {
    super(`no object at ${uri}`);
  }
}

/** Rejects keys that could escape the store's root or that S3 would treat differently from a directory. */
export function checkKey(key: string): string {
  if (!key || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new Error(`invalid blob key ${JSON.stringify(key)}: use a relative path like "imports/2026-11/a.jsonl"`);
  }
  return key;
}
