import type { Manifest, ManifestJudge, ManifestRoute, TierName } from '../serving/manifest';

/** One route as the tier table and the clustering know it. */
export interface RouteSource {
  routeId: string;
  label: string;
  /** Unit-length centroid of the route's cluster (from its latest clustering run). */
  centroid: Float32Array;
  share: number;
  tier: TierName;
  /** The tier entry's target, as stored (tier_entries.target). */
  target: Record<string, unknown>;
  evidence: Record<string, unknown>;
}

export interface DraftInput {
  tenant: string;
  version: number;
  previousVersion: number | null;
  createdAt: string;
  embedding: { model: string; dims: number };
  models: { cheap: string; frontier: string };
  /** Cosine a query needs to a route's centroid (the clustering threshold). */
  threshold: number;
  routes: RouteSource[];
  provenance: Record<string, unknown>;
  /** The tenant's calibrated judge, when it has one. */
  judge?: ManifestJudge;
}

export type ManifestDraft = Omit<Manifest, 'contentHash' | 'signature'>;

export function centroidToBase64(v: Float32Array): string {
  const b = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i]!, i * 4);
  return b.toString('base64');
}

function targetOf(r: RouteSource, models: DraftInput['models']): ManifestRoute['target'] {
  const t = r.target;
  switch (r.tier) {
    case 'template':
      if (t.kind === 'toolscript') return { toolScript: t.script as never, candidateId: String(t.candidateId), version: Number(t.version) };
      return { template: String(t.template), script: (t.script as never) ?? null, candidateId: String(t.candidateId), version: Number(t.version) };
    case 'adapter':
      return {
        adapter: String(t.name),
        baseModel: String(t.baseModel),
        ...(typeof t.baseModelDigest === 'string' ? { baseModelDigest: t.baseModelDigest } : {}),
        ...(typeof t.adapterDigest === 'string' ? { adapterDigest: t.adapterDigest } : {}),
        uri: String(t.uri),
      };
    case 'cheap':
      return { model: String(t.model ?? models.cheap) };
    case 'frontier':
      return { model: String(t.model ?? models.frontier) };
  }
}

/** A route's own calibrated threshold (its tier entry's evidence, from judged graduation), else the global one. */
function routeThreshold(r: RouteSource, global: number): number {
  const t = r.evidence.threshold;
  return typeof t === 'number' && Number.isFinite(t) && t > -1 && t <= 1 ? t : global;
}

/**
 * The manifest a tier table describes, before sealing (content hash, signature). Deterministic: routes sorted by id,
 * centroids as little-endian Float32 base64, so the same inputs give byte-identical manifests.
 */
export function buildManifestDraft(input: DraftInput): ManifestDraft {
  for (const r of input.routes) {
    if (r.centroid.length !== input.embedding.dims)
      throw new Error(`route ${r.routeId}: centroid has ${r.centroid.length} dims, the embedding model ${input.embedding.dims}`);
  }
  return {
    schema: 'distillery.manifest/v1',
    tenant: input.tenant,
    version: input.version,
    previousVersion: input.previousVersion,
    createdAt: input.createdAt,
    embedding: { model: input.embedding.model, dims: input.embedding.dims, normalisation: 'distillery-mask-v1' },
    fallback: { tier: 'frontier', model: input.models.frontier },
    models: input.models,
    routes: [...input.routes]
      .sort((a, b) => (a.routeId < b.routeId ? -1 : a.routeId > b.routeId ? 1 : 0))
      .map((r) => ({
        id: r.routeId,
        label: r.label,
        recognise: { centroid: centroidToBase64(r.centroid), threshold: routeThreshold(r, input.threshold) },
        tier: r.tier,
        target: targetOf(r, input.models),
        evidence: r.evidence,
        share: r.share,
      })),
    provenance: input.provenance,
    ...(input.judge ? { judge: input.judge } : {}),
  };
}
