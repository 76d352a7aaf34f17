import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/db/client';
import { identityForKey, listApiKeys } from '../../src/keys/store';
import { spawnCli } from '../support/cli';
import { createTestDatabase } from '../support/postgres';

/** `distillery keys …` / `tenant create` as an operator runs them, against a fresh database. */
let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
let env: Record<string, string>;

beforeAll(async () => {
  testDb = await createTestDatabase('keys');
  env = { DATABASE_URL: testDb.url, LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  await testDb?.drop();
});

async function cli(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawnCli(args, env);
  const code = await child.exited;
  return { code, out: child.output() };
}

const keyIn = (out: string) => /^(dk_\S+)$/m.exec(out)?.[1];

describe('keys CLI', () => {
  it('tenant create issues an ingest-only key and says how to issue a review key', async () => {
    const { code, out } = await cli('tenant', 'create', 'keys-it');
    expect(code, out).toBe(0);
    expect(out).toContain('api key "sdk" for tenant keys-it, scopes ingest (shown once');
    expect(out).toContain('distillery keys create --tenant keys-it --name <reviewer> --scopes review');
    const identity = await identityForKey(testDb.database.db, keyIn(out)!);
    expect(identity).toMatchObject({ tenantId: 'keys-it', name: 'sdk', scopes: ['ingest'] });
  });

  it('keys create | list | revoke; names are unique among live keys; bad scopes are refused by name', async () => {
    const created = await cli('keys', 'create', '--tenant', 'keys-it', '--name', 'ada@example.com', '--scopes', 'review');
    expect(created.code, created.out).toBe(0);
    const key = keyIn(created.out)!;
    expect(await identityForKey(testDb.database.db, key)).toMatchObject({ name: 'ada@example.com', scopes: ['review'] });

    const dup = await cli('keys', 'create', '--tenant', 'keys-it', '--name', 'ada@example.com', '--scopes', 'ingest');
    expect(dup.code).toBe(2);
    expect(dup.out).toContain('name: tenant keys-it already has a live key named "ada@example.com"');
    const bad = await cli('keys', 'create', '--tenant', 'keys-it', '--name', 'x', '--scopes', 'ingest,write');
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--scopes: unknown scope "write"');

    const list = await cli('keys', 'list', '--tenant', 'keys-it');
    expect(list.code, list.out).toBe(0);
    const prefix = key.slice(0, 8);
    expect(list.out).toMatch(new RegExp(`${prefix}\\s+ada@example\\.com\\s+review\\s+\\S+\\s+live`));
    expect(list.out).toMatch(/sdk\s+ingest\s/);
    expect(list.out).not.toContain(key); // only prefixes, never a key

    const revoked = await cli('keys', 'revoke', prefix, '--tenant', 'keys-it');
    expect(revoked.code, revoked.out).toBe(0);
    expect(revoked.out).toMatch(new RegExp(`revoked key \\d+ \\(${prefix}, "ada@example.com"\\)`));
    expect(await identityForKey(testDb.database.db, key)).toBeUndefined();
    expect((await cli('keys', 'list', '--tenant', 'keys-it')).out).toMatch(new RegExp(`${prefix}.*revoked 20`));
    // Another tenant cannot revoke it, and the name is free again.
    expect((await cli('keys', 'revoke', prefix, '--tenant', 'someone-else')).out).toContain('tenant someone-else has no key');
    expect((await cli('keys', 'create', '--tenant', 'keys-it', '--name', 'ada@example.com', '--scopes', 'review,ingest')).code).toBe(0);
    expect((await listApiKeys(testDb.database.db, 'keys-it')).map((k) => [k.name, k.scopes.join(','), k.revokedAt === null])).toEqual([
      ['sdk', 'ingest', true],
      ['ada@example.com', 'review', false],
      ['ada@example.com', 'ingest,review', true],
    ]);
  });
});

describe('migration 0005', () => {
  it('gives keys issued before scopes every scope and a unique name, and leaves new keys no default', async () => {
    const pg = new PGlite();
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => f.endsWith('.sql'))
      .sort();
    const run = async (f: string) => {
      for (const stmt of readFileSync(path.join(MIGRATIONS_DIR, f), 'utf8').split('--> statement-breakpoint')) if (stmt.trim()) await pg.exec(stmt);
    };
    for (const f of files.filter((f) => f < '0005')) await run(f);
    await pg.exec(
      `insert into tenants (id, name) values ('old', 'old'); insert into api_keys (tenant_id, key_hash, key_prefix) values ('old', 'h1', 'dk_aaaaa'), ('old', 'h2', 'dk_aaaaa')`,
    );
    await run(files.find((f) => f.startsWith('0005'))!);
    const rows = (await pg.query<{ name: string; scopes: string[] }>('select name, scopes from api_keys order by id')).rows;
    expect(rows).toEqual([
      { name: 'dk_aaaaa-1', scopes: ['ingest', 'review', 'admin'] },
      { name: 'dk_aaaaa-2', scopes: ['ingest', 'review', 'admin'] },
    ]);
    await expect(pg.exec(`insert into api_keys (tenant_id, key_hash, key_prefix, name) values ('old', 'h3', 'dk_b', 'new')`)).rejects.toThrow(/scopes/);
    await pg.close();
  });
});
