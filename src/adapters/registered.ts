import type { Db } from '../db/client';
import { adapterPrefix } from '../distill/blob-dirs';
import { listAdapters } from '../distill/store';
import type { ExportableAdapter } from './export';

/**
 * The tenant's adapters that a server can load: passed the gate (candidate) or serving (active), trained here (so
 * their PEFT folder is in the blob store, with its digest recorded at training), optionally of one base only.
 */
export async function servableAdapters(db: Db, tenantId: string, base?: string): Promise<ExportableAdapter[]> {
  const out: ExportableAdapter[] = [];
  const seen = new Set<string>();
  for (const a of await listAdapters(db, tenantId)) {
    // newest first: a serving name retrained later is served by its newest servable adapter
    if (seen.has(a.name)) continue;
    const digest = a.lineage.metrics.adapterDigest;
    if (a.status === 'rejected' || a.lineage.runner !== 'local' || typeof digest !== 'string') continue;
    if (base && a.baseModel !== base) continue;
    seen.add(a.name);
    out.push({
      name: a.name,
      baseModel: a.baseModel,
      ...(a.lineage.config.baseModelDigest ? { baseModelDigest: a.lineage.config.baseModelDigest } : {}),
      adapterDigest: digest,
      prefix: adapterPrefix(a.jobId),
    });
  }
  return out;
}
