import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors';
import { sealManifest } from '../../src/serving/manifest-hash';
import type { Manifest } from '../../src/serving/manifest';
import { ManifestValidationError, manifestProblems, validateManifest } from '../../src/serving/manifest-validate';
import { rng, randomUnit, syntheticManifest, toBase64 } from '../../src/router/synthetic';

const dims = 8;
const r = rng(7);

/** A valid manifest with one route of each target kind (template, adapter, cheap, frontier). */
function valid(): Manifest {
  return syntheticManifest({
    dims,
    routes: [
      {
        id: 'c_order',
        tier: 'template',
        centroid: randomUnit(dims, r),
        target: { template: 'Order {{id}} ships tomorrow.', script: null, candidateId: 'cand_1', version: 2 },
      },
      {
        id: 'c_plan',
        tier: 'template',
        centroid: randomUnit(dims, r),
        target: {
          template: 'You are on {{plan}}.',
          script: { kind: 'vocabulary', variables: [{ name: 'plan', vocabulary: { premium: 'Premium' } }] },
          candidateId: 'cand_2',
          version: 1,
        },
        keywords: { all: ['plan'], none: ['cancel'] },
      },
      {
        id: 'c_cancel',
        tier: 'adapter',
        centroid: randomUnit(dims, r),
        target: { adapter: 'acme-cancel-v3', baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', uri: 's3://bucket/adapters/ft_1/' },
      },
      { id: 'c_faq', tier: 'cheap', centroid: randomUnit(dims, r), target: { model: 'gpt-4o-mini' } },
      { id: 'c_hard', tier: 'frontier', centroid: randomUnit(dims, r), target: { model: 'gpt-4o' } },
    ],
  });
}

/** Problems of a modified copy of the valid manifest. */
function problemsOf(edit: (m: Record<string, any>) => void): string[] {
  const m = structuredClone(valid()) as Record<string, any>;
  edit(m);
  return manifestProblems(m);
}

describe('manifest schema', () => {
  it('accepts a valid manifest with template, adapter and model targets', () => {
    const m = valid();
    expect(manifestProblems(m)).toEqual([]);
    expect(validateManifest(m)).toBe(m);
    // Signed, and with no routes at all, are valid too.
    expect(manifestProblems(sealManifest({ ...m, routes: [] }, 'k'))).toEqual([]);
  });

  it.each([
    ['tenant', (m: Record<string, any>) => delete m.tenant, 'tenant: is required'],
    ['contentHash', (m: Record<string, any>) => delete m.contentHash, 'contentHash: is required'],
    ['a route threshold', (m: Record<string, any>) => delete m.routes[1].recognise.threshold, 'routes[1].recognise.threshold: is required'],
    ['an adapter uri', (m: Record<string, any>) => delete m.routes[2].target.uri, 'routes[2].target.uri: is required'],
    ['the embedding model', (m: Record<string, any>) => delete m.embedding.model, 'embedding.model: is required'],
  ])('rejects a manifest without %s, naming the path', (_, edit, line) => {
    const p = problemsOf(edit);
    expect(p).toContain(line);
    expect(p.filter((l) => l.includes('does not fit tier'))).toEqual([]); // a missing field is not a wrong target kind
  });

  it('rejects targets that do not fit their tier', () => {
    const p = problemsOf((m) => {
      m.routes[0].target = { model: 'gpt-4o-mini' }; // template tier with a model target
      m.routes[2].tier = 'cheap'; // cheap tier with an adapter target
      m.routes[3].target = { adapter: 'a', baseModel: 'b', uri: 'c' }; // cheap tier with an adapter target
    });
    expect(p).toContain('routes[0].target: does not fit tier "template", which needs a target {template, script, candidateId, version}');
    expect(p).toContain('routes[0].target.template: is required');
    expect(p).toContain('routes[0].target.model: is not allowed here');
    expect(p).toContain('routes[2].target: does not fit tier "cheap", which needs a target {model}');
    expect(p).toContain('routes[3].target.adapter: is not allowed here');
    expect(p.some((l) => l.startsWith('routes[1]'))).toBe(false);
  });

  it('rejects wrong values with the path and what is allowed', () => {
    const p = problemsOf((m) => {
      m.schema = 'distillery.manifest/v2';
      m.version = 0;
      m.createdAt = 'last tuesday';
      m.fallback.tier = 'template';
      m.embedding.normalisation = 'none';
      m.routes[0].tier = 'script';
      m.routes[1].recognise.threshold = 1.5;
      m.routes[1].recognise.centroid = 'not base64!';
      m.routes[1].target.script.kind = 'javascript';
      m.routes[4].share = -0.1;
      m.contentHash = 'md5:abc';
      m.signature = 'hmac-sha256:xyz';
      m.extra = true;
    });
    expect(p).toEqual(
      expect.arrayContaining([
        'schema: must be "distillery.manifest/v1"',
        'version: must be >= 1',
        'createdAt: must be a date-time string (ISO 8601, e.g. 2026-11-01T00:00:00Z)',
        'fallback.tier: must be one of "frontier", "cheap"',
        'embedding.normalisation: must be "distillery-mask-v1"',
        'routes[0].tier: must be one of "template", "adapter", "cheap", "frontier"',
        'routes[1].recognise.threshold: must be <= 1',
        'routes[1].recognise.centroid: must be standard base64 with padding (Float32 little-endian values)',
        'routes[1].target.script.kind: must be "vocabulary"',
        'routes[4].share: must be >= 0',
        'contentHash: must match ^sha256:[0-9a-f]{64}$',
        'signature: must match ^hmac-sha256:[0-9a-f]{64}$',
        'extra: is not allowed here',
      ]),
    );
  });

  it('checks what the schema cannot: centroid size and length, unique ids, previousVersion', () => {
    const p = problemsOf((m) => {
      m.routes[0].recognise.centroid = toBase64(new Float32Array(dims + 1).fill(1 / 3));
      m.routes[1].recognise.centroid = toBase64(new Float32Array(dims).fill(1));
      m.routes[3].recognise.centroid = toBase64(Float32Array.from({ length: dims }, (_, i) => (i === 0 ? Number.NaN : 0)));
      m.routes[4].id = 'c_order';
      m.previousVersion = m.version;
    });
    expect(p).toEqual([
      'previousVersion: must be below version (1 >= 1)',
      `routes[0].recognise.centroid: decodes to ${(dims + 1) * 4} bytes; embedding.dims ${dims} needs ${dims * 4} (Float32 little-endian)`,
      'routes[1].recognise.centroid: must have unit length (its length is 2.828)',
      'routes[3].recognise.centroid: value 0 is NaN',
      'routes[4].id: "c_order" is also the id of routes[0]; route ids must be unique',
    ]);
  });

  it('throws one InputError listing every problem as `path: message`', () => {
    const m = structuredClone(valid()) as Record<string, any>;
    delete m.tenant;
    m.routes[0].target = { model: 'x' };
    let err: unknown;
    try {
      validateManifest(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ManifestValidationError);
    expect(err).toBeInstanceOf(InputError);
    const e = err as ManifestValidationError;
    expect(e.problems).toContain('tenant: is required');
    expect(e.message).toMatch(/^manifest: invalid \(\d+ problems\):\n {2}/);
    for (const line of e.problems) expect(e.message).toContain(`\n  ${line}`);
  });

  it('rejects what is not a manifest at all', () => {
    expect(manifestProblems(null)).toEqual(['(manifest): must be object']);
    expect(manifestProblems([])).toEqual(['(manifest): must be object']);
  });
});
