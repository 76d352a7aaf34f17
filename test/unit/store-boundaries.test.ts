import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getTableName, is } from 'drizzle-orm';
import { PgTable } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import * as schema from '../../src/db/schema';

/**
 * Persistence has one home per domain: a `store.ts` (src/<domain>/store.ts) owns its tables. Everything else (logic,
 * activities, workflows, CLI, API, benchmarks) calls stores and never touches tables: it does not import
 * `db/schema` (the table objects) and writes no SQL against the tables. src/db/** is the database layer itself.
 * Tests under test/ may use the schema directly (fixtures, assertions on rows).
 */
const ROOT = path.resolve(__dirname, '../..');
const SCANNED = ['src', 'activities', 'workflows', 'bench'];

/** Files allowed to break a rule, each with the reason. Keep this short: a new entry needs a reason a reviewer accepts. */
const EXCEPTIONS: Record<string, { rule: 'schema' | 'sql'; reason: string }> = {
  'bench/api.ts': { rule: 'sql', reason: 'the API benchmark counts rows through its own pg client to check what the server stored' },
  'bench/ingest.ts': { rule: 'sql', reason: 'the COPY baseline measures raw Postgres speed, deliberately outside the store it is compared with' },
  'bench/support/api-server.ts': { rule: 'sql', reason: 'labels statements by their text for the profile; it issues none' },
  'bench/cluster-workflow.ts': { rule: 'sql', reason: 'loads a million synthetic interactions by COPY (benchmark set-up, not a code path of the product)' },
};

const TABLES = Object.values(schema)
  .filter((v) => is(v, PgTable))
  .map((t) => getTableName(t as PgTable));

const IMPORTS_SCHEMA = /(?:from\s+|import\s*\(\s*)['"][^'"]*db\/schema(?:\.ts)?['"]/;
const rawSql = (tables: string[]) => new RegExp(`\\b(?:from|join|into|update|copy)\\s+(?:${tables.join('|')})\\b`, 'i');

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : tsFiles(rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** What breaks the boundary in one file's text (the self-test below feeds it snippets). */
function violations(file: string, text: string): Array<'schema' | 'sql'> {
  if (file.startsWith('src/db/') || path.posix.basename(file) === 'store.ts') return [];
  const out: Array<'schema' | 'sql'> = [];
  if (IMPORTS_SCHEMA.test(text)) out.push('schema');
  if (rawSql(TABLES).test(text)) out.push('sql');
  return out.filter((rule) => EXCEPTIONS[file]?.rule !== rule);
}

describe('store boundaries', () => {
  it('knows the tables (the schema scan works)', () => {
    expect(TABLES).toEqual(expect.arrayContaining(['interactions', 'feedback', 'runs', 'clusters', 'tier_entries', 'manifests']));
  });

  it('no file outside a store.ts (or src/db) imports db/schema or writes SQL against a table', () => {
    const found = SCANNED.flatMap(tsFiles).flatMap((f) =>
      violations(f, readFileSync(path.join(ROOT, f), 'utf8')).map((rule) => `${f}: ${rule === 'schema' ? 'imports db/schema' : 'raw SQL on a table'}`),
    );
    expect(found).toEqual([]);
  });

  it('catches a violation (the rules can fail)', () => {
    expect(violations('activities/x.ts', "import { runs } from '../src/db/schema';")).toEqual(['schema']);
    expect(violations('src/cli/x.ts', 'await db.execute(sql`select id from interactions where tenant_id = ${t}`)')).toEqual(['sql']);
    expect(violations('src/cli/x.ts', 'sql`insert into cluster_members (run_id) values (1)`')).toEqual(['sql']);
    expect(violations('src/clustering/store.ts', "import { clusters } from '../db/schema';")).toEqual([]);
    expect(violations('src/cli/x.ts', '// numbers from the clustering run, read through the store')).toEqual([]);
  });

  it('lists only exceptions that are still needed', () => {
    for (const [file, e] of Object.entries(EXCEPTIONS)) {
      const text = readFileSync(path.join(ROOT, file), 'utf8');
      expect(e.rule === 'schema' ? IMPORTS_SCHEMA.test(text) : rawSql(TABLES).test(text), `${file} no longer needs its exception`).toBe(true);
    }
  });
});
