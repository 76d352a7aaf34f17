import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeys } from '../db/schema';
import { InputError, ConflictError, NotFoundError } from '../errors';
import { type Scope, SCOPES } from './scopes';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Who a request's key is: its tenant, and the name and scopes it was issued with. */
export interface KeyIdentity {
  tenantId: string;
  keyId: number;
  name: string;
  scopes: Scope[];
}

export interface KeyInfo {
  id: number;
  prefix: string;
  name: string;
  scopes: Scope[];
  createdAt: Date;
  revokedAt: Date | null;
}

// Printable: no control characters, NUL or lone surrogates (\p{C}); the name ends up in the audit trail and terminals.
const KEY_NAME = /^[^\p{C}]{1,100}$/u;

export function checkKeyName(name: string, field = 'name'): string {
  const n = name.trim();
  if (!KEY_NAME.test(n)) {
    throw new InputError(field, 'say who or what holds the key (1-100 printable characters), e.g. "ada@example.com" or "checkout-api"');
  }
  return n;
}

/**
 * Issues a new API key for a tenant. The key is shown once; only its hash is stored. Default scope: `ingest` (least
 * privilege: what an SDK key needs). The name must be unique among the tenant's live keys (it is the reviewer of
 * the key's decisions); default: the key's prefix.
 */
export async function createApiKey(db: Db, tenantId: string, opts: { name?: string; scopes?: readonly Scope[] } = {}): Promise<string> {
  const key = `dk_${randomBytes(24).toString('base64url')}`;
  const prefix = key.slice(0, 8);
  const name = checkKeyName(opts.name ?? prefix);
  const scopes = SCOPES.filter((s) => (opts.scopes ?? ['ingest']).includes(s));
  if (scopes.length === 0) throw new InputError('scopes', `name at least one scope of ${SCOPES.join(', ')}`);
  const inserted = await db
    .insert(apiKeys)
    .values({ tenantId, keyHash: hashKey(key), keyPrefix: prefix, name, scopes })
    .onConflictDoNothing()
    .returning({ id: apiKeys.id });
  // The only unique index a fresh random hash can meet is the live-name one.
  if (inserted.length === 0)
    throw new ConflictError('name', `tenant ${tenantId} already has a live key named "${name}": pick another name or revoke that key first`);
  return key;
}

/** The identity of an API key, or undefined for an unknown or revoked key. */
export async function identityForKey(db: Db, key: string): Promise<KeyIdentity | undefined> {
  const [row] = await db
    .select({ tenantId: apiKeys.tenantId, keyId: apiKeys.id, name: apiKeys.name, scopes: apiKeys.scopes })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashKey(key)), isNull(apiKeys.revokedAt)));
  return row ? { ...row, scopes: row.scopes as Scope[] } : undefined;
}

/** A tenant's keys, oldest first, revoked ones included (the audit trail names them). */
export async function listApiKeys(db: Db, tenantId: string): Promise<KeyInfo[]> {
  const rows = await db
    .select({
      id: apiKeys.id,
      prefix: apiKeys.keyPrefix,
      name: apiKeys.name,
      scopes: apiKeys.scopes,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(eq(apiKeys.tenantId, tenantId))
    .orderBy(asc(apiKeys.id));
  return rows.map((r) => ({ ...r, scopes: r.scopes as Scope[] }));
}

/**
 * Revokes one of a tenant's keys, named by its id or its prefix (as `keys list` shows them). Idempotent: revoking a
 * revoked key returns it unchanged. Another tenant's key is "not found". The API refuses it (401) once its cached
 * entry expires (at most a minute).
 */
export async function revokeApiKey(db: Db, tenantId: string, ref: string): Promise<KeyInfo> {
  const keys = await listApiKeys(db, tenantId);
  const matches = /^\d+$/.test(ref) ? keys.filter((k) => k.id === Number(ref)) : keys.filter((k) => k.prefix === ref);
  if (matches.length === 0)
    throw new NotFoundError('key', `tenant ${tenantId} has no key with id or prefix "${ref}" (see: distillery keys list --tenant ${tenantId})`);
  if (matches.length > 1)
    throw new InputError('key', `prefix "${ref}" names ${matches.length} keys of tenant ${tenantId}: revoke by id instead (see keys list)`);
  const k = matches[0]!;
  if (k.revokedAt) return k;
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`now()` })
    .where(and(eq(apiKeys.id, k.id), eq(apiKeys.tenantId, tenantId)))
    .returning({ revokedAt: apiKeys.revokedAt });
  return { ...k, revokedAt: row!.revokedAt };
}
