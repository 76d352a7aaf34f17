import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import { buildVectors } from '../../scripts/conformance/mask-vectors';
import { compileManifest, resolveCompiled } from '../../src/router';
import { parseDocument } from '../../src/router/source';
import { syntheticManifest } from '../../src/router/synthetic';
import { normalizeQuery } from '../../src/serving/normalize';
import { renderAnswer } from '../../src/serving/render';
import { namedSlots } from '../../src/serving/slots';
import type { TierName } from '../../src/serving/manifest';

/**
 * The published conformance vectors (src/serving/mask-vectors.v1.json, what "Implementing a router" in the README
 * points a stranger to) run through the project's own router code, and the pointer's published schema.
 */
const vectors = JSON.parse(readFileSync(new URL('../../src/serving/mask-vectors.v1.json', import.meta.url), 'utf8')) as ReturnType<typeof buildVectors>;
const pointerSchema = JSON.parse(readFileSync(new URL('../../src/serving/pointer.schema.json', import.meta.url), 'utf8')) as object;

describe('router conformance vectors', () => {
  it('the committed file is what the code produces (regenerate with scripts/conformance/mask-vectors.ts)', () => {
    expect(JSON.parse(JSON.stringify(buildVectors()))).toEqual(vectors);
  });

  it('masking: every query gives the masked text and the slots (name, type, value, offsets)', () => {
    expect(vectors.mask.length).toBeGreaterThan(30);
    for (const v of vectors.mask) {
      const n = normalizeQuery(v.query);
      const names = Object.keys(namedSlots(n.slots));
      expect({
        query: v.query,
        text: n.text,
        slots: n.slots.map((s, i) => ({ name: names[i], type: s.type, value: s.value, start: s.start, end: s.end })),
      }).toEqual(v);
      for (const s of v.slots) expect(v.query.slice(s.start, s.end)).toBe(s.value);
    }
    // Every slot type is exercised.
    expect(new Set(vectors.mask.flatMap((v) => v.slots.map((s) => s.type)))).toEqual(
      new Set(['email', 'url', 'iban', 'money', 'date', 'time', 'percent', 'id', 'card', 'phone', 'name', 'number']),
    );
  });

  it('rendering: answers, literal \\{{, no HTML escaping, and failures', () => {
    for (const r of vectors.render) {
      const slots = namedSlots(normalizeQuery(r.query).slots);
      expect(slots).toEqual(r.slots);
      if (r.answer === null) expect(() => renderAnswer(r.template, { query: r.query, slots }, r.script)).toThrow();
      else expect(renderAnswer(r.template, { query: r.query, slots }, r.script)).toBe(r.answer);
    }
    expect(vectors.render.some((r) => r.answer?.includes('{{id}}'))).toBe(true);
  });

  it('matching: nearest route, >= its threshold, keyword rules, else the fallback', () => {
    const m = vectors.matching.manifest;
    const manifest = syntheticManifest({
      dims: m.dims,
      routes: m.routes.map((r) => ({
        id: r.id,
        tier: r.tier as TierName,
        centroid: new Float32Array(r.centroid),
        threshold: r.threshold,
        ...(r.keywords ? { keywords: r.keywords } : {}),
        target: r.target as never,
      })),
    });
    const compiled = compileManifest(manifest);
    for (const c of vectors.matching.cases) {
      const r = resolveCompiled(compiled, new Float32Array(c.vector), c.query);
      expect({ tier: r.tier, routeId: r.routeId, answer: r.answer ?? null, reason: r.reason }, c.note).toEqual(c.expect);
    }
  });
});

describe('pointer schema', () => {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const valid = ajv.compile(pointerSchema);
  const hash = `sha256:${'ab'.repeat(32)}`;

  it('accepts what the publisher writes, and the router reads it as a pointer', () => {
    const p = { tenant: 'acme', version: 3, key: 'manifests/acme/v3.json', contentHash: hash };
    expect(valid(p), JSON.stringify(valid.errors)).toBe(true);
    expect(parseDocument({ location: { kind: 'blob', key: 'manifests/acme/current.json' }, text: JSON.stringify(p), digest: '' })).toEqual({
      kind: 'pointer',
      pointer: p,
    });
  });

  it('refuses what the router refuses: other hosts, absolute or parent keys, bad hashes and versions', () => {
    for (const key of ['/etc/passwd', '../v3.json', 'manifests/../x.json', 'https://evil.example/v3.json', 'a//b.json', 'a\\b.json', 'manifests/./v3.json'])
      expect(valid({ version: 3, key, contentHash: hash }), key).toBe(false);
    expect(valid({ version: 0, key: 'manifests/a/v0.json', contentHash: hash })).toBe(false);
    expect(valid({ version: 1, key: 'manifests/a/v1.json', contentHash: 'sha256:XYZ' })).toBe(false);
    expect(valid({ version: 1, key: 'manifests/a/v1.json' })).toBe(false);
  });
});
