import { describe, expect, it } from 'vitest';
import { type DraftInput, type RouteSource, buildManifestDraft, centroidToBase64 } from '../../src/manifest/build';
import { canonicalJson, manifestHash, sealManifest, verifyManifest } from '../../src/serving/manifest-hash';
import type { AdapterTarget, ModelTarget, TemplateTarget } from '../../src/serving/manifest';
import { decodeCentroid, manifestProblems, validateManifest } from '../../src/serving/manifest-validate';
import { randomUnit, rng } from '../../src/router/synthetic';

const dims = 16;
const r = rng(42);
const models = { cheap: 'gpt-4o-mini', frontier: 'gpt-4o' };

/** One route of each kind, as the tier table stores them (targets carry extra fields the manifest leaves out). */
function sources(): RouteSource[] {
  return [
    {
      routeId: 'c_order',
      label: 'where is my order',
      centroid: randomUnit(dims, r),
      share: 0.25,
      tier: 'template',
      // As graduation stores it: kind is the tier table's, not the manifest's.
      target: { candidateId: 'cand_1', version: 3, kind: 'template', template: 'Order {{id}} ships tomorrow.', script: null },
      evidence: { precision: 1, coverage: 1, reviewer: 'ana' },
    },
    {
      routeId: 'c_plan',
      label: 'what is in my plan',
      centroid: randomUnit(dims, r),
      share: 0.1,
      tier: 'template',
      // No script key at all: the manifest says null.
      target: { candidateId: 'cand_2', version: 1, template: 'You are on {{plan}}.' },
      evidence: {},
    },
    {
      routeId: 'c_cancel',
      label: 'cancel subscription',
      centroid: randomUnit(dims, r),
      share: 0.2,
      tier: 'adapter',
      // As activateAdapter stores it: adapterId is the tier table's; `name` is what a server serves it under.
      target: { adapterId: 'ad_9', name: 'acme-cancel-v2', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', uri: 's3://b/adapters/ft_1/' },
      evidence: { evaluation: { meanSimilarity: 0.93 } },
    },
    { routeId: 'c_faq', label: 'faq', centroid: randomUnit(dims, r), share: 0.15, tier: 'cheap', target: {}, evidence: {} },
    {
      routeId: 'c_faq_pinned',
      label: 'faq pinned',
      centroid: randomUnit(dims, r),
      share: 0.05,
      tier: 'cheap',
      target: { model: 'gpt-4.1-nano' },
      evidence: {},
    },
    {
      routeId: 'c_hard',
      label: 'hard',
      centroid: randomUnit(dims, r),
      share: 0.2,
      tier: 'frontier',
      target: {},
      evidence: { reason: 'no cheaper tier has earned this route yet' },
    },
    // Upper case sorts before lower case in UTF-16 code units (not in a locale collation).
    { routeId: 'C_upper', label: 'upper', centroid: randomUnit(dims, r), share: 0.05, tier: 'frontier', target: { model: 'o3' }, evidence: {} },
  ];
}

const routes = sources();

function input(rs: RouteSource[] = routes, over: Partial<DraftInput> = {}): DraftInput {
  return {
    tenant: 'acme',
    version: 2,
    previousVersion: 1,
    createdAt: '2026-11-01T00:00:00.000Z',
    embedding: { model: 'local:all-MiniLM-L6-v2', dims },
    models,
    threshold: 0.72,
    routes: rs,
    provenance: { runId: 'retrain_1', routes: rs.length },
    ...over,
  };
}

const byId = (d: ReturnType<typeof buildManifestDraft>, id: string) => d.routes.find((x) => x.id === id)!;

describe('buildManifestDraft', () => {
  it('sorts routes by id (UTF-16 code units) whatever the input order', () => {
    const d = buildManifestDraft(input());
    expect(d.routes.map((x) => x.id)).toEqual(['C_upper', 'c_cancel', 'c_faq', 'c_faq_pinned', 'c_hard', 'c_order', 'c_plan']);
    expect(buildManifestDraft(input([...routes].reverse())).routes.map((x) => x.id)).toEqual(d.routes.map((x) => x.id));
  });

  it('is deterministic: the same input in any route order gives byte-identical JSON and the same hash', () => {
    const a = buildManifestDraft(input());
    const shuffled = [routes[3]!, routes[0]!, routes[6]!, routes[2]!, routes[5]!, routes[1]!, routes[4]!];
    const b = buildManifestDraft(input(shuffled));
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(manifestHash(b)).toBe(manifestHash(a));
    // Built again from fresh copies of the same data (new Float32Arrays, new objects).
    const copies = routes.map((x) => ({ ...structuredClone(x), centroid: Float32Array.from(x.centroid) }));
    expect(canonicalJson(buildManifestDraft(input(copies)))).toBe(canonicalJson(a));
    // The input's route array is not reordered in place.
    expect(shuffled[0]!.routeId).toBe('c_faq');
  });

  it('fills the header from the input: embedding with the normalisation, frontier fallback, models, threshold on every route', () => {
    const d = buildManifestDraft(input());
    expect(d).toMatchObject({
      schema: 'distillery.manifest/v1',
      tenant: 'acme',
      version: 2,
      previousVersion: 1,
      createdAt: '2026-11-01T00:00:00.000Z',
      embedding: { model: 'local:all-MiniLM-L6-v2', dims, normalisation: 'distillery-mask-v1' },
      fallback: { tier: 'frontier', model: 'gpt-4o' },
      models,
      provenance: { runId: 'retrain_1', routes: 7 },
    });
    expect(d).not.toHaveProperty('contentHash');
    for (const route of d.routes) expect(route.recognise.threshold).toBe(0.72);
    expect(byId(d, 'c_order')).toMatchObject({ label: 'where is my order', share: 0.25, evidence: { precision: 1, coverage: 1, reviewer: 'ana' } });
  });

  it('encodes centroids as little-endian Float32 base64 that decode to the same values', () => {
    const d = buildManifestDraft(input());
    for (const src of routes) {
      const b64 = byId(d, src.routeId).recognise.centroid;
      expect(b64).toBe(centroidToBase64(src.centroid));
      expect(Buffer.from(b64, 'base64')).toHaveLength(dims * 4);
      expect(Array.from(decodeCentroid(b64))).toEqual(Array.from(src.centroid));
    }
    // Byte layout: little-endian whatever the machine.
    const v = new Float32Array([1, -2.5, 0.1]);
    const bytes = Buffer.from(centroidToBase64(v), 'base64');
    expect(bytes.readFloatLE(0)).toBe(1);
    expect(bytes.readFloatLE(4)).toBe(-2.5);
    expect(bytes.readFloatLE(8)).toBe(Math.fround(0.1));
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x00, 0x00, 0x80, 0x3f]));
  });

  it('maps each tier to its target shape, keeping only the manifest fields', () => {
    const d = buildManifestDraft(input());
    expect(byId(d, 'c_order').target).toEqual({
      template: 'Order {{id}} ships tomorrow.',
      script: null,
      candidateId: 'cand_1',
      version: 3,
    } satisfies TemplateTarget);
    expect(byId(d, 'c_plan').target).toEqual({ template: 'You are on {{plan}}.', script: null, candidateId: 'cand_2', version: 1 } satisfies TemplateTarget);
    expect(byId(d, 'c_cancel').target).toEqual({
      adapter: 'acme-cancel-v2',
      baseModel: 'Qwen/Qwen2.5-0.5B-Instruct',
      uri: 's3://b/adapters/ft_1/',
    } satisfies AdapterTarget);
    expect(byId(d, 'c_faq').target).toEqual({ model: 'gpt-4o-mini' } satisfies ModelTarget);
    expect(byId(d, 'c_faq_pinned').target).toEqual({ model: 'gpt-4.1-nano' } satisfies ModelTarget);
    expect(byId(d, 'c_hard').target).toEqual({ model: 'gpt-4o' } satisfies ModelTarget);
    expect(byId(d, 'C_upper').target).toEqual({ model: 'o3' } satisfies ModelTarget);
    expect(d.routes.map((x) => [x.id, x.tier])).toEqual([
      ['C_upper', 'frontier'],
      ['c_cancel', 'adapter'],
      ['c_faq', 'cheap'],
      ['c_faq_pinned', 'cheap'],
      ['c_hard', 'frontier'],
      ['c_order', 'template'],
      ['c_plan', 'template'],
    ]);
  });

  it('keeps a template route’s script', () => {
    const script = { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium', basic: 'Basic' } }] };
    const d = buildManifestDraft(input([{ ...routes[1]!, target: { ...routes[1]!.target, script } }]));
    expect(d.routes[0]!.target).toEqual({ template: 'You are on {{plan}}.', script, candidateId: 'cand_2', version: 1 });
    expect(manifestProblems(sealManifest(d))).toEqual([]);
  });

  it('throws naming the route when a centroid has the wrong size', () => {
    const bad = { ...routes[0]!, routeId: 'c_short', centroid: randomUnit(dims - 1, r) };
    expect(() => buildManifestDraft(input([...routes, bad]))).toThrow(/route c_short: centroid has 15 dims, the embedding model 16/);
    expect(() => buildManifestDraft(input([{ ...routes[2]!, routeId: 'c_long', centroid: randomUnit(dims + 4, r) }]))).toThrow(/route c_long/);
  });

  it('seals to a manifest that validates against the schema and verifies', () => {
    const draft = buildManifestDraft(input());
    const sealed = sealManifest(draft);
    expect(validateManifest(sealed)).toBe(sealed);
    expect(sealed.contentHash).toBe(manifestHash(draft));
    expect(() => verifyManifest(sealed)).not.toThrow();
    const signed = sealManifest(draft, 'k3y');
    expect(validateManifest(signed).signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(() => verifyManifest(signed, 'k3y')).not.toThrow();
    // A first manifest (no previous version) and one without routes are valid too.
    expect(manifestProblems(sealManifest(buildManifestDraft(input([], { version: 1, previousVersion: null }))))).toEqual([]);
  });
});
