import { describe, expect, it } from 'vitest';
import { ManifestIntegrityError, canonicalJson, manifestHash, sealManifest, signManifest, verifyManifest } from '../../src/serving/manifest-hash';
import type { Manifest } from '../../src/serving/manifest';
import { rng, randomUnit, syntheticManifest } from '../../src/router/synthetic';

const r = rng(3);
const base = (): Manifest =>
  syntheticManifest({
    dims: 4,
    routes: [
      { id: 'a', tier: 'template', centroid: randomUnit(4, r), target: { template: 'Hi {{name}}', script: null, candidateId: 'c', version: 1 } },
      { id: 'b', tier: 'cheap', centroid: randomUnit(4, r), target: { model: 'small' } },
    ],
  });

/** The same object with keys in reverse order at every level. */
function reversed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reversed);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .reverse()
        .map(([k, x]) => [k, reversed(x)]),
    );
  return v;
}

const thrown = (f: () => unknown): Error => {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, writes no whitespace', () => {
    expect(canonicalJson({ b: [3, { y: 1, x: 'é\n' }], a: null, c: true })).toBe('{"a":null,"b":[3,{"x":"é\\n","y":1}],"c":true}');
  });
  it('leaves out undefined members as JSON.stringify does, and refuses non-finite numbers', () => {
    expect(canonicalJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}');
    expect(() => canonicalJson({ x: { y: Number.NaN } })).toThrow(/y is NaN/);
    expect(() => canonicalJson({ x: [Number.POSITIVE_INFINITY] })).toThrow(/Infinity/);
    expect(() => canonicalJson({ x: 1n })).toThrow();
  });
  it('orders integer-like keys as strings too ("10" before "9")', () => {
    const vocab = { '9': 'nine', '10': 'ten', b: 'b', a: { '2': 1, '1': 2 } };
    expect(canonicalJson(vocab)).toBe('{"10":"ten","9":"nine","a":{"1":2,"2":1},"b":"b"}');
    expect(canonicalJson([{ z: 1, y: [{ '3': 0, '20': 0 }] }])).toBe('[{"y":[{"20":0,"3":0}],"z":1}]');
  });
  it('writes what JSON.stringify writes for dates and -0', () => {
    expect(canonicalJson({ d: new Date(0), z: -0 })).toBe('{"d":"1970-01-01T00:00:00.000Z","z":0}');
  });
  it('sorts by UTF-16 code units (RFC 8785)', () => {
    expect(canonicalJson({ b: 1, B: 2, é: 3, a: 4 })).toBe('{"B":2,"a":4,"b":1,"é":3}');
  });
});

describe('manifestHash / sealManifest', () => {
  it('is stable under key order and indentation', () => {
    const m = base();
    const shuffled = JSON.parse(JSON.stringify(reversed(m), null, 2)) as Manifest;
    expect(Object.keys(shuffled)[0]).not.toBe(Object.keys(m)[0]);
    expect(manifestHash(shuffled)).toBe(m.contentHash);
    expect(() => verifyManifest(shuffled)).not.toThrow();
  });

  it('covers everything but contentHash and signature', () => {
    const m = base();
    expect(m.contentHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(manifestHash({ ...m, contentHash: 'sha256:0', signature: 'x' })).toBe(m.contentHash);
    expect(manifestHash({ ...m, routes: [m.routes[1]!, m.routes[0]!] })).not.toBe(m.contentHash); // route order matters
    expect(manifestHash({ ...m, version: 2 })).not.toBe(m.contentHash);
  });

  it('reseals a manifest (old hash and signature replaced)', () => {
    const m = base();
    const again = sealManifest({ ...m, version: 5, previousVersion: 4 });
    expect(again.contentHash).not.toBe(m.contentHash);
    expect(again.signature).toBeUndefined();
    expect(() => verifyManifest(again)).not.toThrow();
  });

  it('refuses a manifest whose content changed after sealing', () => {
    const m = base();
    const tampered = { ...m, fallback: { tier: 'cheap' as const, model: 'evil' } };
    const err = thrown(() => verifyManifest(tampered));
    expect(err).toBeInstanceOf(ManifestIntegrityError);
    expect(err.message).toMatch(/^contentHash: does not match the manifest's content/);
  });
});

describe('HMAC signature', () => {
  const key = 'shared-secret';

  it('signs the same bytes the hash covers, and verifies with the key', () => {
    const m = sealManifest(base(), key);
    expect(m.signature).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(m.signature).toBe(signManifest(m, key));
    expect(signManifest(reversed(m) as Manifest, Buffer.from(key))).toBe(m.signature);
    expect(() => verifyManifest(m, key)).not.toThrow();
    expect(() => verifyManifest(m)).not.toThrow(); // without a key only the hash is checked
  });

  it('refuses another key, a forged signature, and an unsigned manifest when a key is configured', () => {
    const m = sealManifest(base(), key);
    expect(thrown(() => verifyManifest(m, 'other-key')).message).toMatch(/^signature: does not verify/);
    expect(thrown(() => verifyManifest({ ...m, signature: `hmac-sha256:${'0'.repeat(64)}` }, key)).message).toMatch(/^signature: does not verify/);
    expect(thrown(() => verifyManifest({ ...m, signature: 'short' }, key)).message).toMatch(/^signature: does not verify/);
    expect(thrown(() => verifyManifest(base(), key)).message).toMatch(/^signature: missing/);
  });

  it('refuses content tampered with and re-hashed by someone without the key', () => {
    const m = sealManifest(base(), key);
    const forged = { ...m, models: { cheap: 'x', frontier: 'y' } };
    forged.contentHash = manifestHash(forged);
    expect(() => verifyManifest(forged)).not.toThrow(); // the hash alone is only integrity
    expect(thrown(() => verifyManifest(forged, key))).toBeInstanceOf(ManifestIntegrityError);
  });
});
