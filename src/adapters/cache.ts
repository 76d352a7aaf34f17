import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../blob';
import { downloadDir } from '../distill/blob-dirs';
import { folderDigest } from './digest';

export class AdapterDigestMismatchError extends Error {
  override readonly name = 'AdapterDigestMismatchError';
}

/**
 * A local copy of the adapter under blob `prefix` whose folder digest is `digest`, content-addressed in `cacheDir`
 * (`<cacheDir>/<sha256 hex>`): fetched once, verified, then reused by every server and export on this machine. A
 * download lands in a temporary folder and is renamed into place only once its digest checks out, so a half-fetched
 * or altered adapter is never served.
 */
export async function cachedAdapter(blob: BlobStore, prefix: string, digest: string, cacheDir: string): Promise<string> {
  const hex = /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1];
  if (!hex) throw new AdapterDigestMismatchError(`not an adapter digest: ${JSON.stringify(digest)} (want sha256:<64 hex>)`);
  const target = path.join(cacheDir, hex);
  if (existsSync(path.join(target, 'adapter_config.json'))) return target;
  const tmp = path.join(cacheDir, `.tmp-${hex.slice(0, 12)}-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    const n = await downloadDir(blob, prefix.replace(/\/+$/, ''), tmp);
    if (!n) throw new AdapterDigestMismatchError(`no adapter files under ${blob.uri(`${prefix.replace(/\/+$/, '')}/`)}`);
    const found = await folderDigest(tmp);
    if (found !== digest) throw new AdapterDigestMismatchError(`adapter under ${prefix} has digest ${found}, not ${digest}`);
    await rm(target, { recursive: true, force: true });
    await rename(tmp, target);
    return target;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
