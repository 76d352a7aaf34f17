import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { tenants } from '../db/schema';
import { InputError } from '../errors';

const TENANT_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Creates the tenant if needed (idempotent) and returns it. (API keys: src/keys/store.ts.) */
export async function ensureTenant(db: Db, id: string, name = id): Promise<{ id: string; name: string }> {
  if (!TENANT_ID.test(id)) throw new InputError('tenant', 'use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit');
  await db.insert(tenants).values({ id, name }).onConflictDoNothing();
  const [row] = await db.select().from(tenants).where(eq(tenants.id, id));
  return row!;
}

/** The tenant, or undefined when no such tenant was created. */
export async function findTenant(db: Db, id: string): Promise<{ id: string; name: string } | undefined> {
  const [row] = await db.select({ id: tenants.id, name: tenants.name }).from(tenants).where(eq(tenants.id, id));
  return row;
}
