import { and, desc, eq, sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../db/client';
import { manifestEvents, manifests, publishRefusals, tierPrices } from '../db/schema';
import { acceptedSql, latestFeedbackSql } from '../interactions/store';
import type { Prices } from './replay';
import { TIERS, type TierName } from '../serving/manifest';

/** The manifest domain's tables: published manifests, the pointer's history (events) and the tier prices. */

export type ManifestRow = typeof manifests.$inferSelect;
export type ManifestEventRow = typeof manifestEvents.$inferSelect;
export type PriceRow = typeof tierPrices.$inferSelect;

/** The version the tenant's pointer serves now (last publish or rollback), or null. */
export async function servedVersion(db: Db, tenantId: string): Promise<number | null> {
  const [e] = await db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenantId)).orderBy(desc(manifestEvents.id)).limit(1);
  return e?.version ?? null;
}

/** The tenant's pointer switches, newest first. */
export async function recentEvents(db: Db, tenantId: string, limit: number): Promise<ManifestEventRow[]> {
  return db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenantId)).orderBy(desc(manifestEvents.id)).limit(limit);
}

export async function listManifests(db: Db, tenantId: string): Promise<ManifestRow[]> {
  return db.select().from(manifests).where(eq(manifests.tenantId, tenantId)).orderBy(desc(manifests.version));
}

export async function getManifest(db: Db, tenantId: string, version: number): Promise<ManifestRow | undefined> {
  const [row] = await db
    .select()
    .from(manifests)
    .where(and(eq(manifests.tenantId, tenantId), eq(manifests.version, version)));
  return row;
}

/** The manifest a run published (or began to), or undefined: what makes a publish idempotent per run. */
export async function manifestOfRun(db: Db, tenantId: string, runId: string): Promise<ManifestRow | undefined> {
  const [row] = await db
    .select()
    .from(manifests)
    .where(and(eq(manifests.tenantId, tenantId), eq(manifests.runId, runId)));
  return row;
}

/** The tenant's highest version number, or 0. */
export async function latestVersion(db: Db, tenantId: string): Promise<number> {
  const [latest] = await db.select({ v: manifests.version }).from(manifests).where(eq(manifests.tenantId, tenantId)).orderBy(desc(manifests.version)).limit(1);
  return latest?.v ?? 0;
}

/** Records a manifest as being written; fails when the version is taken (the primary key is (tenant, version)). */
export async function insertManifest(db: Db, m: Omit<typeof manifests.$inferInsert, 'status' | 'createdAt'>): Promise<void> {
  await db.insert(manifests).values({ ...m, status: 'writing' });
}

/**
 * Records a pointer switch in one transaction: a publish marks its version published; the event is appended unless
 * the last event already says the same (a retried switch records nothing twice).
 */
export async function recordSwitch(
  db: Db,
  e: { tenantId: string; version: number; kind: 'publish' | 'rollback'; fromVersion: number | null; actor: string },
): Promise<void> {
  await db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    if (e.kind === 'publish')
      await t
        .update(manifests)
        .set({ status: 'published' })
        .where(and(eq(manifests.tenantId, e.tenantId), eq(manifests.version, e.version)));
    const [last] = await t.select().from(manifestEvents).where(eq(manifestEvents.tenantId, e.tenantId)).orderBy(desc(manifestEvents.id)).limit(1);
    if (!(last && last.version === e.version && last.kind === e.kind)) await t.insert(manifestEvents).values(e);
  });
}

export async function listPrices(db: Db): Promise<PriceRow[]> {
  return db.select().from(tierPrices);
}

/** Every tier's price; a tier without a row is an error (the migration seeds them). */
export async function loadPrices(db: Db): Promise<Prices> {
  const rows = await listPrices(db);
  const p = Object.fromEntries(
    rows.map((r) => [r.tier, { model: r.model, inputPerMTok: r.inputPerMTok, outputPerMTok: r.outputPerMTok, perCall: r.perCall }]),
  ) as Prices;
  for (const t of TIERS) if (!p[t]) throw new Error(`tier_prices has no row for ${t}: run \`distillery migrate\``);
  return p;
}

export async function setPrice(db: Db, p: { tier: TierName; model: string; inputPerMTok: number; outputPerMTok: number; perCall: number }): Promise<void> {
  const { tier, ...rest } = p;
  await db
    .insert(tierPrices)
    .values(p)
    .onConflictDoUpdate({ target: tierPrices.tier, set: { ...rest, updatedAt: sql`now()` } });
}

/** Each active cluster of the tenant in one embedding space, with its active tier entry (if any) and latest share. */
export async function routeRows(db: Db, tenantId: string, model: string) {
  return rowsOf<{
    route_id: string;
    tier: TierName | null;
    target: Record<string, unknown> | null;
    evidence: Record<string, unknown> | null;
    label: string;
    centroid: Buffer;
    share: number | null;
  }>(
    await db.execute(sql`
      select c.id as route_id, t.tier, t.target, t.evidence, c.label, c.centroid,
        (select s.share from cluster_snapshots s where s.cluster_id = c.id and s.run_id = c.last_run_id) as share
      from clusters c left join tier_entries t on t.route_id = c.id and t.tenant_id = c.tenant_id and t.status = 'active'
      where c.tenant_id = ${tenantId} and c.status = 'active' and c.embedding_model = ${model}`),
  );
}

/** The held-out slice: accepted interactions picked by a hash of their id (the same ones every time), newest first. */
export async function replaySlice(db: Db, tenantId: string, share: number, limit: number) {
  const buckets = Math.round(share * 1000);
  return rowsOf<{ id: string; query_text: string; answer: string; prompt_tokens: number | null; completion_tokens: number | null }>(
    await db.execute(sql`
      select i.id, i.query_text, coalesce(f.corrected_answer, i.answer_text) as answer, i.prompt_tokens, i.completion_tokens
      from interactions i
      join lateral ${latestFeedbackSql(sql`i.id`)} f on true
      where i.tenant_id = ${tenantId} and ${acceptedSql('f')}
        and abs(hashtext('replay:' || i.id::text)) % 1000 < ${buckets}
      order by i.occurred_at desc limit ${limit}`),
  );
}

/** Records a refused publish (idempotent per run). */
export async function recordRefusal(db: Db, r: { tenantId: string; runId: string; reasons: string[] }): Promise<void> {
  await db.insert(publishRefusals).values(r).onConflictDoNothing();
}

/** The tenant's newest refused publish, or null. */
export async function latestRefusal(db: Db, tenantId: string): Promise<{ runId: string; reasons: string[]; at: Date } | null> {
  const [row] = await db.select().from(publishRefusals).where(eq(publishRefusals.tenantId, tenantId)).orderBy(desc(publishRefusals.at)).limit(1);
  return row ?? null;
}

/** When the tenant's served manifest went into service (its latest pointer switch), or null before the first. */
export async function servedSince(db: Db, tenantId: string): Promise<{ version: number; at: Date } | null> {
  const [e] = await db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenantId)).orderBy(desc(manifestEvents.id)).limit(1);
  return e ? { version: e.version, at: e.at } : null;
}
