import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { InputError } from '../errors';
import type { Manifest } from './manifest';

/**
 * Content addressing and signing of manifests (node:crypto only, so the router client can use it).
 *
 * The hashed bytes are the canonical JSON of the manifest without `contentHash` and `signature`: object keys sorted
 * by UTF-16 code units, no whitespace, numbers and strings as JSON.stringify writes them. That is the JSON
 * Canonicalization Scheme (RFC 8785) for the values a manifest holds, so a publisher in another language can
 * reproduce it with a JCS library. Key order and indentation of the file on disk therefore do not matter.
 */

export type UnsealedManifest = Omit<Manifest, 'contentHash' | 'signature'> & { contentHash?: string; signature?: string };

/** A manifest whose content hash or signature does not check out. `field` is `contentHash` or `signature`. */
export class ManifestIntegrityError extends InputError {
  constructor(field: 'contentHash' | 'signature', message: string) {
    super(field, message);
  }
}

/** Canonical JSON: sorted keys, no whitespace; `undefined` members are left out as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  try {
    // Fast path: the native serializer with each object rebuilt in sorted key order.
    return JSON.stringify(value, sortedReplacer);
  } catch (err) {
    // Objects with integer-like keys ("1", "10") enumerate in numeric order whatever the insertion order, so they
    // cannot be rebuilt sorted; such values (rare: script vocabularies) go through the plain writer.
    if (err !== INTEGER_KEY) throw err;
    return write(value);
  }
}

const INTEGER_KEY = new Error('integer-like key');
const INTEGER_LIKE = /^(?:0|[1-9]\d*)$/;

function sortedReplacer(this: unknown, key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`canonicalJson: ${key || '(root)'} is ${v}, which JSON cannot hold`);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const keys = Object.keys(v).sort();
  const o: Record<string, unknown> = {};
  for (const k of keys) {
    if (INTEGER_LIKE.test(k)) throw INTEGER_KEY;
    o[k] = (v as Record<string, unknown>)[k];
  }
  return o;
}

/** Writes canonical JSON piece by piece (any keys). */
function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`canonicalJson: a member is ${value}, which JSON cannot hold`);
      return JSON.stringify(value);
    case 'object': {
      const toJSON = (value as { toJSON?: () => unknown }).toJSON;
      if (typeof toJSON === 'function') return write(toJSON.call(value));
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v = value[i];
          // As JSON.stringify: holes, undefined and functions in arrays become null.
          out += (i ? ',' : '') + (v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : write(v));
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      // Default sort: UTF-16 code units, as RFC 8785 wants.
      let out = '{';
      for (const k of Object.keys(obj).sort()) {
        const v = obj[k];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${write(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new Error(`canonicalJson: a ${typeof value} cannot be written as JSON`);
  }
}

/** The bytes that the content hash and the signature cover. */
function coveredBytes(m: UnsealedManifest | Manifest): string {
  const { contentHash: _h, signature: _s, ...rest } = m as UnsealedManifest;
  return canonicalJson(rest);
}

/** `sha256:<hex>` of the canonical JSON of the manifest without `contentHash` and `signature`. */
export function manifestHash(m: UnsealedManifest | Manifest): string {
  return `sha256:${createHash('sha256').update(coveredBytes(m)).digest('hex')}`;
}

/** `hmac-sha256:<hex>` of the same canonical JSON, with a shared key. */
export function signManifest(m: UnsealedManifest | Manifest, key: string | Buffer): string {
  if (key.length === 0) throw new Error('signManifest: the HMAC key is empty');
  return `hmac-sha256:${createHmac('sha256', key).update(coveredBytes(m)).digest('hex')}`;
}

/** The manifest with its content hash (and its signature when a key is given); any old hash or signature is replaced. */
export function sealManifest(draft: UnsealedManifest, key?: string | Buffer): Manifest {
  const { contentHash: _h, signature: _s, ...rest } = draft;
  const sealed: Manifest = { ...rest, contentHash: manifestHash(rest) };
  if (key !== undefined) sealed.signature = signManifest(rest, key);
  return sealed;
}

/**
 * Checks that `contentHash` matches the content and, when a key is given, that `signature` is present and matches
 * (a manifest without one is refused then). Throws ManifestIntegrityError saying which; comparisons are timing-safe.
 */
export function verifyManifest(m: Manifest, key?: string | Buffer): void {
  const bytes = coveredBytes(m);
  const hash = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (typeof m.contentHash !== 'string' || !safeEqual(m.contentHash, hash)) {
    throw new ManifestIntegrityError(
      'contentHash',
      `does not match the manifest's content (says ${String(m.contentHash)}, content hashes to ${hash}); the manifest was altered or written incompletely`,
    );
  }
  if (key === undefined) return;
  if (key.length === 0) throw new Error('verifyManifest: the HMAC key is empty');
  if (typeof m.signature !== 'string')
    throw new ManifestIntegrityError('signature', 'missing: a signing key is configured, so only signed manifests are accepted');
  const expected = `hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}`;
  if (!safeEqual(m.signature, expected))
    throw new ManifestIntegrityError('signature', 'does not verify with the configured key: the manifest was altered or signed with another key');
}

/** Constant-time string comparison (the length is not secret: both sides have a fixed format). */
function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
