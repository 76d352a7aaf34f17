import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { tenants } from '../db/schema';
import { InputError } from '../errors';
import { DEFAULT_BUDGET, type ErrorBudget, validateBudget } from '../promotion/budget';

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

/** The tenant's error budget (DEFAULT_BUDGET until one is set). */
export async function tenantBudget(db: Db, tenantId: string): Promise<ErrorBudget> {
  const [row] = await db.select({ b: tenants.errorBudget }).from(tenants).where(eq(tenants.id, tenantId));
  return row?.b ?? DEFAULT_BUDGET;
}

/** Sets the tenant's error budget: the most served answers may be wrong, as an upper bound at `confidence`. */
export async function setTenantBudget(db: Db, tenantId: string, maxErrorRate: number, confidence = DEFAULT_BUDGET.confidence): Promise<ErrorBudget> {
  const budget = validateBudget({ ...DEFAULT_BUDGET, maxErrorRate, confidence });
  const updated = await db.update(tenants).set({ errorBudget: budget }).where(eq(tenants.id, tenantId)).returning({ id: tenants.id });
  if (!updated.length) throw new InputError('tenant', `no tenant "${tenantId}": create it with \`distillery tenant create\``);
  return budget;
}
