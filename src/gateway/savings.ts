import type { Db } from '../db/client';
import { type SavingsRow, savingsRows } from './store';

/**
 * What the gateway's cheaper tiers saved: per route and tier, the requests and tokens served and their cost at the
 * configured tier prices (`distillery prices`), against the same tokens sent to the frontier. Template answers have
 * no model-counted tokens: theirs are estimated from the text (4 characters a token), as the frontier would have
 * been billed for them.
 */

export interface SavingsReport {
  tenant: string;
  from: string;
  to: string;
  rows: Array<SavingsRow & { avoidedUsd: number }>;
  totals: { requests: number; costUsd: number; frontierCostUsd: number; avoidedUsd: number; byTier: Record<string, number> };
}

export function summarizeSavings(tenant: string, from: Date, to: Date, rows: SavingsRow[]): SavingsReport {
  const out = rows.map((r) => ({ ...r, avoidedUsd: r.frontierCostUsd - r.costUsd }));
  const byTier: Record<string, number> = {};
  for (const r of out) byTier[r.tier] = (byTier[r.tier] ?? 0) + r.requests;
  const sum = (f: (r: (typeof out)[number]) => number) => out.reduce((s, r) => s + f(r), 0);
  return {
    tenant,
    from: from.toISOString(),
    to: to.toISOString(),
    rows: out,
    totals: {
      requests: sum((r) => r.requests),
      costUsd: sum((r) => r.costUsd),
      frontierCostUsd: sum((r) => r.frontierCostUsd),
      avoidedUsd: sum((r) => r.avoidedUsd),
      byTier,
    },
  };
}

export async function savingsReport(db: Db, tenant: string, from: Date, to: Date): Promise<SavingsReport> {
  return summarizeSavings(tenant, from, to, await savingsRows(db, tenant, from, to));
}

export function formatSavings(r: SavingsReport): string {
  const usd = (x: number) => `$${x.toFixed(4)}`;
  const lines = [
    `${r.tenant}: ${r.from} .. ${r.to}`,
    `${'route'.padEnd(28)} ${'tier'.padEnd(9)} ${'requests'.padStart(9)} ${'tokens'.padStart(10)} ${'cost'.padStart(10)} ${'frontier'.padStart(10)} ${'avoided'.padStart(10)}`,
  ];
  for (const x of r.rows)
    lines.push(
      `${(x.routeId || '(fallback)').padEnd(28)} ${x.tier.padEnd(9)} ${String(x.requests).padStart(9)} ${String(x.promptTokens + x.completionTokens).padStart(10)} ${usd(x.costUsd).padStart(10)} ${usd(x.frontierCostUsd).padStart(10)} ${usd(x.avoidedUsd).padStart(10)}`,
    );
  const t = r.totals;
  const pct = t.frontierCostUsd > 0 ? ` (−${((100 * t.avoidedUsd) / t.frontierCostUsd).toFixed(1)}%)` : '';
  lines.push(`total: ${t.requests} requests, cost ${usd(t.costUsd)} vs all-frontier ${usd(t.frontierCostUsd)}: avoided ${usd(t.avoidedUsd)}${pct}`);
  return lines.join('\n');
}
