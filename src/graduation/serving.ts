import type { Db } from '../db/client';
import { getManifest, latestRefusal, servedSince } from '../manifest/store';
import type { CandidateSummary } from './store';
import { decisionTimes } from './store';

/** Whether an approved candidate serves in the tenant's manifest in service, and if not, why not. */
export interface ServingStatus {
  served: boolean;
  /** The manifest version in service (null before the first publish). */
  version: number | null;
  reason?: string;
}

/**
 * Serving status of approved candidates: in the manifest in service (a route whose target names the candidate), or
 * why not: no publish since the approval yet (the review publish is debounced), the publish after it was refused by
 * the replay (its reasons), or its routes serve another tier now (demoted, or overridden by `tiers set`).
 */
export async function withServing<C extends Pick<CandidateSummary, 'id' | 'status' | 'tenantId'>>(
  db: Db,
  tenantId: string,
  rows: C[],
): Promise<Array<C & { serving?: ServingStatus }>> {
  const approved = rows.filter((r) => r.status === 'approved');
  if (!approved.length) return rows;
  const since = await servedSince(db, tenantId);
  const manifest = since ? (await getManifest(db, tenantId, since.version))?.manifest : undefined;
  const servedIds = new Set(manifest?.routes.flatMap((r) => (r.tier === 'template' && 'candidateId' in r.target ? [r.target.candidateId] : [])) ?? []);
  const refusal = await latestRefusal(db, tenantId);
  const decided = await decisionTimes(
    db,
    approved.map((r) => r.id),
  );
  return rows.map((r) => {
    if (r.status !== 'approved') return r;
    const version = since?.version ?? null;
    if (servedIds.has(r.id)) return { ...r, serving: { served: true, version } };
    const at = decided.get(r.id);
    const publishedAfter = since && at && since.at >= at;
    const refusedAfter = refusal && at && refusal.at >= at && (!since || refusal.at >= since.at);
    const reason = refusedAfter
      ? `the publish after its approval was refused: ${refusal.reasons.join('; ')}`
      : publishedAfter
        ? `not in manifest v${version}: its routes serve another tier now (see \`distillery tiers history\`)`
        : `approved after the manifest in service${version ? ` (v${version})` : ''} was published: the review publish follows within minutes`;
    return { ...r, serving: { served: false, version, reason } };
  });
}
