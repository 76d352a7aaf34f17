import { realpathSync } from 'node:fs';
import path from 'node:path';
import { InputError, ForbiddenError } from '../errors';

/**
 * Where imports may read from, per deployment (config: INGEST_ALLOWED_ROOTS, INGEST_ALLOWED_BUCKETS). Without it a
 * tenant's import could name any file the worker can read (`/etc/passwd` would land in its rejection report) or any
 * object its S3 credentials reach (another tenant's dataset would import as interactions). `{tenant}` in an entry
 * stands for the importing tenant, so per-tenant folders keep tenants apart.
 */
export interface AllowedSources {
  /** Local directories (absolute); a source must resolve (symlinks and `..` followed) inside one of them. */
  roots: string[];
  /** `bucket` or `bucket/prefix/`: an S3 source must be in the bucket and under the prefix. */
  buckets: string[];
}

const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function expand(entry: string, tenantId: string): string {
  return entry.replaceAll('{tenant}', tenantId);
}

function refuse(source: string, why: string, setting: string): never {
  throw new ForbiddenError(
    'source',
    `${source} is not an allowed import source: ${why}. Move the file there, or add its location to ${setting} (deployment configuration)`,
  );
}

/**
 * Throws a 403 InputError naming the source and the setting to change unless `uri` (an `s3://bucket/key`, a
 * `file://` URI or a local path) is under an allowed root or bucket for this tenant. Local paths are compared after
 * realpath, so symlinks and `..` cannot escape; a path that does not exist is compared as given, and is an error only
 * when `mustExist` (the default; false for the fast check where an import starts, maybe on another machine than
 * the worker, which checks for real).
 */
export function assertAllowedSource(uri: string, allow: AllowedSources, tenantId: string, opts: { mustExist?: boolean } = {}): void {
  if (!TENANT.test(tenantId)) throw new InputError('tenant', `invalid tenant id ${JSON.stringify(tenantId)}`);
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (s3) {
    const [, bucket, key] = s3 as unknown as [string, string, string];
    // S3 keys are literal, but some S3-compatible servers normalise `..` and `//`: refuse them outright.
    if (key.split('/').some((p, i, all) => p === '.' || p === '..' || (p === '' && i < all.length - 1)))
      refuse(uri, 'its key has ".", ".." or empty path segments', 'INGEST_ALLOWED_BUCKETS');
    const ok = allow.buckets.some((entry) => {
      const e = expand(entry, tenantId);
      const slash = e.indexOf('/');
      const b = slash < 0 ? e : e.slice(0, slash);
      const raw = slash < 0 ? '' : e.slice(slash + 1);
      // A prefix is a folder: `imports/acme` must not admit `imports/acme-x/`. The folder itself may be named without
      // its slash (its listing then also meets `imports/acme-x/…`, which resolveSource drops file by file).
      const prefix = raw === '' || raw.endsWith('/') ? raw : `${raw}/`;
      return b === bucket && (prefix === '' || key.startsWith(prefix) || `${key}/` === prefix);
    });
    if (!ok)
      refuse(
        uri,
        `allowed are ${allow.buckets.length ? allow.buckets.map((b) => `s3://${expand(b, tenantId)}`).join(', ') : 'no buckets'}`,
        'INGEST_ALLOWED_BUCKETS',
      );
    return;
  }
  const given = path.resolve(uri.replace(/^file:\/\//, ''));
  let real: string | undefined;
  try {
    real = realpathSync(given);
  } catch {
    real = undefined;
  }
  // Refuse before saying whether the path exists, so a tenant cannot probe the worker's file system.
  const target = real ?? given;
  const ok = allow.roots.some((entry) => {
    const root = path.resolve(expand(entry, tenantId));
    let r: string;
    try {
      r = realpathSync(root);
    } catch {
      r = root; // a root that does not exist yet holds no real file; it still admits the lexical fast check
    }
    return target === r || target.startsWith(r.endsWith(path.sep) ? r : r + path.sep);
  });
  if (!ok) {
    const shown = real && real !== given ? `${given} (really ${real})` : given;
    refuse(
      shown,
      `allowed are ${allow.roots.length ? allow.roots.map((r) => path.resolve(expand(r, tenantId))).join(', ') : 'no local folders'}`,
      'INGEST_ALLOWED_ROOTS',
    );
  }
  if (real === undefined && opts.mustExist !== false) throw new InputError('source', `no file or directory at ${given}`);
}
