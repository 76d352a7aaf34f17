import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client';
import { apiKeys, tenants } from '../db/schema';
import { InputError } from '../errors';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Creates the tenant if needed (idempotent) and returns it. */
export async function ensureTenant(db: Db, id: string, name = id): Promise<{ id: string; name: string }> {
  if (!TENANT_ID.test(id)) throw new InputError('tenant', 'use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit');
  await db.insert(tenants).values({ id, name }).onConflictDoNothing();
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
  return row!;
}

/** Issues a new API key for a tenant. The key is shown once; only its hash is stored. */
export async function createApiKey(db: Db, tenantId: string): Promise<string> {
  const key = `dk_${randomBytes(24).toString('base64url')}`;
  await db.insert(apiKeys).values({ tenantId, keyHash: hashKey(key), keyPrefix: key.slice(0, 8) });
  return key;
}

/** The tenant an API key belongs to, or undefined for an unknown or revoked key. */
export async function tenantForKey(db: Db, key: string): Promise<string | undefined> {
  const [row] = await db
    .select({ tenantId: apiKeys.tenantId })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, hashKey(key)), isNull(apiKeys.revokedAt)));
  return row?.tenantId;
}

/** The tenant, or undefined when no such tenant was created. */
export async function findTenant(db: Db, id: string): Promise<{ id: string; name: string } | undefined> {
  const [row] = await db.select({ id: tenants.id, name: tenants.name }).from(tenants).where(eq(tenants.id, id));
  return row;
}
