import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AllowedSources, assertAllowedSource } from '../../src/ingest/allowed';

const base = mkdtempSync(path.join(os.tmpdir(), 'allowed-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const root = path.join(base, 'imports');
for (const t of ['acme', 'acme-x', 'other']) mkdirSync(path.join(root, t), { recursive: true });
writeFileSync(path.join(root, 'acme', 'a.jsonl'), '{}\n');
writeFileSync(path.join(root, 'other', 'b.jsonl'), '{}\n');
writeFileSync(path.join(base, 'outside.jsonl'), '{}\n');
symlinkSync(path.join(base, 'outside.jsonl'), path.join(root, 'acme', 'escape.jsonl'));
symlinkSync(path.join(root, 'other'), path.join(root, 'acme', 'to-other'));

const allow: AllowedSources = { roots: [path.join(root, '{tenant}')], buckets: ['data-bucket/imports/{tenant}/', 'shared-bucket'] };
const check = (uri: string, opts?: { mustExist?: boolean }) => () => assertAllowedSource(uri, allow, 'acme', opts);

describe('assertAllowedSource, local', () => {
  it('allows the tenant folder and what is in it, as a path or file:// URI', () => {
    expect(check(path.join(root, 'acme'))).not.toThrow();
    expect(check(path.join(root, 'acme', 'a.jsonl'))).not.toThrow();
    expect(check(`file://${path.join(root, 'acme', 'a.jsonl')}`)).not.toThrow();
  });

  it.each([
    ['/etc/passwd', /^source: \/etc\/passwd is not an allowed import source: allowed are .*imports\/acme\. .*INGEST_ALLOWED_ROOTS/],
    [`${root}/acme/../other/b.jsonl`, /other\/b\.jsonl is not an allowed import source/],
    [path.join(root, 'acme-x'), /acme-x is not an allowed import source/], // a sibling sharing the name's prefix
    [path.join(root, 'acme', 'escape.jsonl'), /escape\.jsonl \(really .*outside\.jsonl\) is not an allowed/], // symlink out
    [path.join(root, 'acme', 'to-other', 'b.jsonl'), /\(really .*other\/b\.jsonl\)/], // symlinked folder into another tenant's
  ])('refuses %s with a 403 naming the source and the setting', (uri, message) => {
    expect(check(uri)).toThrow(message);
    try {
      check(uri)();
    } catch (e) {
      expect((e as { kind: string }).kind).toBe('forbidden');
    }
  });

  it('refuses a missing path outside before saying it is missing; inside, missing is an error only if it must exist', () => {
    expect(check('/nonexistent/x.jsonl')).toThrow(/not an allowed import source/);
    expect(check(path.join(root, 'acme', 'later.jsonl'))).toThrow(/no file or directory/);
    expect(check(path.join(root, 'acme', 'later.jsonl'), { mustExist: false })).not.toThrow();
  });

  it('keeps tenants apart through {tenant}', () => {
    expect(() => assertAllowedSource(path.join(root, 'other', 'b.jsonl'), allow, 'other')).not.toThrow();
    expect(check(path.join(root, 'other', 'b.jsonl'))).toThrow(/INGEST_ALLOWED_ROOTS/);
    expect(() => assertAllowedSource(path.join(root, 'acme'), allow, '../acme')).toThrow(/tenant/);
  });
});

describe('assertAllowedSource, S3', () => {
  it.each([
    's3://data-bucket/imports/acme/',
    's3://data-bucket/imports/acme',
    's3://data-bucket/imports/acme/2026/a.jsonl',
    's3://shared-bucket/anything/x.jsonl',
  ])('allows %s', (uri) => {
    expect(check(uri)).not.toThrow();
  });

  it.each([
    ['s3://data-bucket/imports/other/b.jsonl', /allowed are s3:\/\/data-bucket\/imports\/acme\/, s3:\/\/shared-bucket.*INGEST_ALLOWED_BUCKETS/],
    ['s3://data-bucket/imports/acme-x/a.jsonl', /INGEST_ALLOWED_BUCKETS/],
    ['s3://data-bucket/datasets/acme/train.jsonl', /INGEST_ALLOWED_BUCKETS/],
    ['s3://data-bucket/imports/acme/../other/b.jsonl', /"\.\."/],
    ['s3://data-bucket/imports/acme//x.jsonl', /empty path segments/],
    ['s3://elsewhere/imports/acme/', /INGEST_ALLOWED_BUCKETS/],
  ])('refuses %s', (uri, message) => {
    expect(check(uri)).toThrow(message);
  });
});
