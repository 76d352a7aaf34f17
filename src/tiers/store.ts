import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import { tenantCluster } from '../clustering/store';
import type { Db } from '../db/client';
import { tierEntries } from '../db/schema';
import { InputError, ConflictError, NotFoundError } from '../errors';
import type { TierName } from '../serving/manifest';

export type TierEntry = typeof tierEntries.$inferSelect;

/**
 * The tier table's one write: puts a route on a tier. The route's open entry (if any) is closed (superseded, valid
 * until now) and the new one opens, in the caller's transaction, so history is the table itself and a route never
 * has two active entries (a partial unique index guarantees it too).
 */
export async function putTierEntry(
  t: Db,
  e: { tenantId: string; routeId: string; tier: TierName; target: Record<string, unknown>; evidence: Record<string, unknown> },
): Promise<void> {
  await t
    .update(tierEntries)
    .set({ status: 'superseded', validTo: sql`now()` })
    .where(and(eq(tierEntries.tenantId, e.tenantId), eq(tierEntries.routeId, e.routeId), eq(tierEntries.status, 'active')));
  await t.insert(tierEntries).values({ ...e, status: 'active' });
}

/** The route's active entry, or undefined (the route is then served by the frontier). */
export async function activeTierEntry(t: Db, tenantId: string, routeId: string): Promise<TierEntry | undefined> {
  const [e] = await t
    .select()
    .from(tierEntries)
    .where(and(eq(tierEntries.tenantId, tenantId), eq(tierEntries.routeId, routeId), eq(tierEntries.status, 'active')));
  return e;
}

export async function listActiveTierEntries(db: Db, tenantId: string): Promise<TierEntry[]> {
  return db
    .select()
    .from(tierEntries)
    .where(and(eq(tierEntries.tenantId, tenantId), eq(tierEntries.status, 'active')))
    .orderBy(asc(tierEntries.routeId));
}

/** Which of these routes have an active entry (on `tier`, or on any tier): the routes something cheaper serves. */
export async function servedRoutes(db: Db, tenantId: string, routeIds: string[], tier?: TierName): Promise<Set<string>> {
  if (!routeIds.length) return new Set();
  const conds = [eq(tierEntries.tenantId, tenantId), eq(tierEntries.status, 'active'), inArray(tierEntries.routeId, routeIds)];
  if (tier) conds.push(eq(tierEntries.tier, tier));
  return new Set(
    (
      await db
        .select({ id: tierEntries.routeId })
        .from(tierEntries)
        .where(and(...conds))
    ).map((r) => r.id),
  );
}

/** Every entry a route ever had, newest first. */
export async function routeHistory(db: Db, tenantId: string, routeId: string): Promise<TierEntry[]> {
  return db
    .select()
    .from(tierEntries)
    .where(and(eq(tierEntries.tenantId, tenantId), eq(tierEntries.routeId, routeId)))
    .orderBy(desc(tierEntries.id));
}

/**
 * A person moves a route to the cheap model or back to the frontier (templates and adapters earn their tier through
 * review and the gate, not by hand). The route must be an active cluster of the tenant.
 */
export async function setModelTier(
  db: Db,
  input: { tenantId: string; routeId: string; tier: 'cheap' | 'frontier'; model: string; actor: string; reason?: string },
): Promise<void> {
  const c = await tenantCluster(db, input.tenantId, input.routeId);
  if (!c)
    throw new NotFoundError(
      'route',
      `no route "${input.routeId}" for tenant ${input.tenantId}: routes are cluster ids (\`distillery clusters list --tenant ${input.tenantId}\`)`,
    );
  if (c.status !== 'active') throw new ConflictError('route', `route ${input.routeId} is ${c.status}: only active clusters are routes`);
  if (!input.model.trim()) throw new InputError('model', 'name the model to call, e.g. gpt-4o-mini');
  await db.transaction((tx) =>
    putTierEntry(tx as unknown as Db, {
      tenantId: input.tenantId,
      routeId: input.routeId,
      tier: input.tier,
      target: { model: input.model.trim() },
      evidence: { setBy: input.actor, reason: input.reason ?? null },
    }),
  );
}
