import { and, eq, gte, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { gatewayShadowStats, gatewayUsage } from '../db/schema';
import type { TierName } from '../serving/manifest';

/** The gateway's tables: live shadow statistics per route entry, and served traffic per hour for savings. */

export type ShadowStatsRow = typeof gatewayShadowStats.$inferSelect;

export async function loadShadowStats(db: Db, tenantId: string): Promise<ShadowStatsRow[]> {
  return db.select().from(gatewayShadowStats).where(eq(gatewayShadowStats.tenantId, tenantId));
}

/**
 * Adds one judgement to a route entry's record (atomically, so gateways sharing the database add up) and returns
 * the record after it. `example` (a disagreement) joins the latest few kept as evidence.
 */
export async function addJudgement(
  db: Db,
  k: { tenantId: string; routeId: string; entry: string; tier: TierName },
  agreed: boolean,
  example?: Record<string, unknown>,
  keepExamples = 5,
): Promise<ShadowStatsRow> {
  const err = agreed ? 0 : 1;
  const ex = example ? [example] : [];
  const [row] = await db
    .insert(gatewayShadowStats)
    .values({ ...k, judged: 1, errors: err, examples: ex })
    .onConflictDoUpdate({
      target: [gatewayShadowStats.tenantId, gatewayShadowStats.routeId, gatewayShadowStats.entry],
      set: {
        judged: sql`${gatewayShadowStats.judged} + 1`,
        errors: sql`${gatewayShadowStats.errors} + ${err}`,
        examples: example
          ? sql`(select coalesce(jsonb_agg(e), '[]'::jsonb) from (select e from jsonb_array_elements(${gatewayShadowStats.examples} || ${JSON.stringify(ex)}::jsonb) with ordinality as x(e, o) order by o desc limit ${keepExamples}) y)`
          : gatewayShadowStats.examples,
        updatedAt: sql`now()`,
      },
    })
    .returning();
  return row!;
}

/** Marks a route entry demoted; true only for the one caller that did it (the others see it already set). */
export async function markDemoted(db: Db, k: { tenantId: string; routeId: string; entry: string }): Promise<boolean> {
  const rows = await db
    .update(gatewayShadowStats)
    .set({ demotedAt: sql`now()` })
    .where(
      and(
        eq(gatewayShadowStats.tenantId, k.tenantId),
        eq(gatewayShadowStats.routeId, k.routeId),
        eq(gatewayShadowStats.entry, k.entry),
        isNull(gatewayShadowStats.demotedAt),
      ),
    )
    .returning({ routeId: gatewayShadowStats.routeId });
  return rows.length === 1;
}

export interface UsageDelta {
  tenantId: string;
  hour: Date;
  routeId: string;
  tier: TierName;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  frontierCostUsd: number;
}

/** Adds aggregated usage (one row per tenant, hour, route and tier). */
export async function addUsage(db: Db, deltas: UsageDelta[]): Promise<void> {
  if (!deltas.length) return;
  const u = gatewayUsage;
  await db
    .insert(u)
    .values(deltas)
    .onConflictDoUpdate({
      target: [u.tenantId, u.hour, u.routeId, u.tier],
      set: {
        requests: sql`${u.requests} + excluded.requests`,
        promptTokens: sql`${u.promptTokens} + excluded.prompt_tokens`,
        completionTokens: sql`${u.completionTokens} + excluded.completion_tokens`,
        costUsd: sql`${u.costUsd} + excluded.cost_usd`,
        frontierCostUsd: sql`${u.frontierCostUsd} + excluded.frontier_cost_usd`,
      },
    });
}

/** Usage of one route and tier summed over a period. */
export type SavingsRow = Omit<UsageDelta, 'tenantId' | 'hour'>;

/** Usage per route and tier over [from, to). */
export async function savingsRows(db: Db, tenantId: string, from: Date, to: Date): Promise<SavingsRow[]> {
  const u = gatewayUsage;
  const rows = await db
    .select({
      routeId: u.routeId,
      tier: u.tier,
      requests: sql<number>`sum(${u.requests})::int`,
      promptTokens: sql<number>`sum(${u.promptTokens})::float8`,
      completionTokens: sql<number>`sum(${u.completionTokens})::float8`,
      costUsd: sql<number>`sum(${u.costUsd})`,
      frontierCostUsd: sql<number>`sum(${u.frontierCostUsd})`,
    })
    .from(u)
    .where(and(eq(u.tenantId, tenantId), gte(u.hour, from), lt(u.hour, to)))
    .groupBy(u.routeId, u.tier)
    .orderBy(u.routeId, u.tier);
  return rows.map((r) => ({
    ...r,
    requests: Number(r.requests),
    promptTokens: Number(r.promptTokens),
    completionTokens: Number(r.completionTokens),
    costUsd: Number(r.costUsd),
    frontierCostUsd: Number(r.frontierCostUsd),
  }));
}
