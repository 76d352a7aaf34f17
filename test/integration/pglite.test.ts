import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { asc, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, EmbeddedDatabaseBusyError, openDatabase, rowsOf } from '../../src/db/client';
import { feedback, interactions } from '../../src/db/schema';
import { InputError } from '../../src/errors';
import { parseFeedback, recordFeedback } from '../../src/interactions/feedback';
import { type InteractionRow, normalizeRecord } from '../../src/interactions/record';
import { insertInteractions } from '../../src/interactions/store';
import { ensureTenant } from '../../src/tenants/store';

/**
 * The embedded default: the same logging path as on Postgres (tenants, idempotent interactions with inline
 * feedback, feedback), on PGlite in a directory, and the lock that keeps a second opener off that directory.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let tmp: string;
let dir: string;
let database: Database;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'distillery-pglite-'));
  dir = path.join(tmp, 'pglite');
  database = openDatabase({ kind: 'pglite', dir });
  await database.migrate();
});

afterAll(async () => {
  await database?.close().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

function row(n: number, over: Record<string, unknown> = {}): InteractionRow {
  return normalizeRecord(
    {
      request: { model: 'gpt-4o', temperature: 0, messages: [{ role: 'user', content: `question ${n}` }] },
      response: {
        id: `chatcmpl-${n}`,
        choices: [{ index: 0, message: { role: 'assistant', content: `answer ${n}` } }],
        usage: { prompt_tokens: n, completion_tokens: 2 },
      },
      created_at: '2026-05-06T07:08:09Z',
      ...over,
    },
    {},
  );
}

async function count(table: 'interactions' | 'feedback', tenantId: string): Promise<number> {
  return Number(
    rowsOf<{ n: string | number }>(await database.db.execute(sql`select count(*) as n from ${sql.identifier(table)} where tenant_id = ${tenantId}`))[0]!.n,
  );
}

describe('PGlite: schema and tenants', () => {
  it('opens as kind pglite, without a pool, and migrating again is a no-op', async () => {
    expect(database.kind).toBe('pglite');
    expect(database.pool).toBeUndefined();
    await database.migrate();
    const tables = rowsOf<{ tablename: string }>(
      await database.db.execute(sql`select tablename from pg_tables where schemaname = 'public' order by tablename`),
    ).map((t) => t.tablename);
    expect(tables).toEqual(expect.arrayContaining(['tenants', 'api_keys', 'interactions', 'feedback', 'runs', 'ingest_chunks']));
  });

  it('ensureTenant creates once and is idempotent; a bad id is an InputError', async () => {
    expect(await ensureTenant(database.db, 'lite-a', 'Lite A')).toMatchObject({ id: 'lite-a', name: 'Lite A' });
    expect(await ensureTenant(database.db, 'lite-a', 'Renamed')).toMatchObject({ id: 'lite-a', name: 'Lite A' });
    await ensureTenant(database.db, 'lite-b');
    expect(Number(rowsOf<{ n: number }>(await database.db.execute(sql`select count(*)::int as n from tenants`))[0]!.n)).toBe(2);
    await expect(ensureTenant(database.db, 'Bad Tenant!')).rejects.toBeInstanceOf(InputError);
  });
});

describe('PGlite: insertInteractions', () => {
  it('stores new rows with every field, in input order', async () => {
    const rows = [row(2), row(1, { latency_ms: 40, cost_usd: 0.001, metadata: { route: 'r1' } }), row(3)];
    const res = await insertInteractions(database.db, 'lite-a', 'api', rows);
    expect(res.map((r) => [r.status, r.idempotencyKey])).toEqual([
      ['stored', 'response:chatcmpl-2'],
      ['stored', 'response:chatcmpl-1'],
      ['stored', 'response:chatcmpl-3'],
    ]);
    expect(new Set(res.map((r) => r.id)).size).toBe(3);
    const [stored] = await database.db.select().from(interactions).where(eq(interactions.id, res[1]!.id));
    expect(stored).toMatchObject({
      tenantId: 'lite-a',
      idempotencyKey: 'response:chatcmpl-1',
      contentHash: rows[1]!.contentHash,
      source: 'api',
      teacherModel: 'gpt-4o',
      messages: [{ role: 'user', content: 'question 1' }],
      requestParams: { temperature: 0 },
      queryText: 'question 1',
      answerText: 'answer 1',
      promptTokens: 1,
      completionTokens: 2,
      costUsd: 0.001,
      latencyMs: 40,
      metadata: { route: 'r1' },
    });
    expect(stored!.occurredAt.toISOString()).toBe('2026-05-06T07:08:09.000Z');
    expect(stored!.response.id).toBe('chatcmpl-1');
  });

  it('returns duplicate (same id) for a retry and conflict for a key reused with other content, writing nothing', async () => {
    const before = await count('interactions', 'lite-a');
    const [original] = await database.db.select({ id: interactions.id }).from(interactions).where(eq(interactions.idempotencyKey, 'response:chatcmpl-1'));
    const changed = row(1, { latency_ms: 40, cost_usd: 0.001, metadata: { route: 'CHANGED' } });
    const res = await insertInteractions(database.db, 'lite-a', 'api', [
      row(1, { latency_ms: 40, cost_usd: 0.001, metadata: { route: 'r1' } }),
      changed,
      row(4),
    ]);
    expect(res).toEqual([
      { status: 'duplicate', id: original!.id, idempotencyKey: 'response:chatcmpl-1' },
      { status: 'conflict', id: original!.id, idempotencyKey: 'response:chatcmpl-1' },
      { status: 'stored', id: expect.any(Number), idempotencyKey: 'response:chatcmpl-4' },
    ]);
    expect(await count('interactions', 'lite-a')).toBe(before + 1);
    const [kept] = await database.db.select({ metadata: interactions.metadata }).from(interactions).where(eq(interactions.id, original!.id));
    expect(kept!.metadata).toEqual({ route: 'r1' });
  });

  it('stores the first of a key repeated within one batch and reports the repeat as duplicate or conflict', async () => {
    const res = await insertInteractions(database.db, 'lite-a', 'import', [row(5), row(5), row(5, { metadata: { other: true } })]);
    expect(res.map((r) => r.status)).toEqual(['stored', 'duplicate', 'conflict']);
    expect(new Set(res.map((r) => r.id)).size).toBe(1);
  });

  it('keeps tenants apart: the same key in another tenant is its own row', async () => {
    const a = await insertInteractions(database.db, 'lite-a', 'api', [row(1, { latency_ms: 40, cost_usd: 0.001, metadata: { route: 'r1' } })]);
    const b = await insertInteractions(database.db, 'lite-b', 'api', [row(1, { metadata: { tenant: 'b' } })]);
    expect(a[0]!.status).toBe('duplicate');
    expect(b[0]!.status).toBe('stored');
    expect(b[0]!.id).not.toBe(a[0]!.id);
  });

  it('stores inline feedback for stored and duplicate rows, not for conflicts, once per interaction', async () => {
    const withFb = row(6, { feedback: { kind: 'edited', corrected_answer: 'better answer 6' } });
    const first = await insertInteractions(database.db, 'lite-a', 'api', [withFb]);
    const again = await insertInteractions(database.db, 'lite-a', 'api', [withFb]);
    const conflicting = await insertInteractions(database.db, 'lite-a', 'api', [row(6, { feedback: { kind: 'rejected' } })]);
    expect([first[0]!.status, again[0]!.status, conflicting[0]!.status]).toEqual(['stored', 'duplicate', 'conflict']);
    const fb = await database.db.select().from(feedback).where(eq(feedback.interactionId, first[0]!.id));
    expect(fb).toHaveLength(1);
    expect(fb[0]).toMatchObject({
      tenantId: 'lite-a',
      idempotencyKey: 'inline:response:chatcmpl-6',
      kind: 'edited',
      correctedAnswer: 'better answer 6',
      score: null,
      source: 'api',
    });
  });

  it('returns [] for an empty batch', async () => {
    expect(await insertInteractions(database.db, 'lite-a', 'api', [])).toEqual([]);
  });
});

describe('PGlite: recordFeedback', () => {
  let id7: number;
  beforeAll(async () => {
    id7 = (await insertInteractions(database.db, 'lite-a', 'api', [row(7)]))[0]!.id;
  });

  it('stores feedback by its key (the same key again is a duplicate); without a key each post is its own event', async () => {
    const items = [
      parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'accepted', idempotency_key: 'fb-a' }),
      parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'score', score: 0.5, idempotency_key: 'fb-s' }),
    ];
    const first = await recordFeedback(database.db, 'lite-a', 'api', items);
    expect(first).toEqual([
      { status: 'stored', key: 'fb-a' },
      { status: 'stored', key: 'fb-s' },
    ]);
    expect(await recordFeedback(database.db, 'lite-a', 'api', items)).toEqual([
      { status: 'duplicate', key: 'fb-a' },
      { status: 'duplicate', key: 'fb-s' },
    ]);
    const unkeyed = parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'accepted' });
    const [u1, u2] = [...(await recordFeedback(database.db, 'lite-a', 'api', [unkeyed])), ...(await recordFeedback(database.db, 'lite-a', 'api', [unkeyed]))];
    expect([u1!.status, u2!.status]).toEqual(['stored', 'stored']);
    expect(u1!.key).toMatch(/^event:/);
    expect(u2!.key).not.toBe(u1!.key);
    const rows = await database.db.select().from(feedback).where(eq(feedback.interactionId, id7)).orderBy(asc(feedback.id));
    expect(rows.map((r) => [r.kind, r.score])).toEqual([
      ['accepted', null],
      ['score', 0.5],
      ['accepted', null],
      ['accepted', null],
    ]);
  });

  it('returns conflict for an explicit key reused with other feedback, and stores nothing', async () => {
    const before = await count('feedback', 'lite-a');
    const [a] = await recordFeedback(database.db, 'lite-a', 'sdk', [
      parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'rejected', idempotency_key: 'fb-1' }),
    ]);
    const [b] = await recordFeedback(database.db, 'lite-a', 'sdk', [
      parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'edited', corrected_answer: 'x', idempotency_key: 'fb-1' }),
    ]);
    expect(a!.status).toBe('stored');
    expect(b).toEqual({ status: 'conflict', key: 'fb-1', error: { field: 'idempotency_key', message: expect.stringContaining('different feedback') } });
    expect(await count('feedback', 'lite-a')).toBe(before + 1);
  });

  it("cannot name another tenant's interaction (not_found), and numeric ids are not accepted", async () => {
    const res = await recordFeedback(database.db, 'lite-b', 'api', [
      parseFeedback({ interaction_key: 'response:chatcmpl-7', kind: 'accepted' }),
      parseFeedback({ interaction_key: 'response:chatcmpl-999999', kind: 'accepted' }),
    ]);
    expect(res.map((r) => [r.status, r.error?.field])).toEqual([
      ['not_found', 'interaction_key'],
      ['not_found', 'interaction_key'],
    ]);
    expect(() => parseFeedback({ interaction_id: id7, kind: 'accepted' })).toThrow(/interaction_key: required|interaction_id/);
    expect(await count('feedback', 'lite-b')).toBe(0);
  });
});

/** Runs a child process that opens the database at `dbDir` and holds it until killed; resolves once it is open. */
function holdInChild(dbDir: string): Promise<ChildProcess> {
  const script = path.join(tmp, `hold-${Date.now()}.mts`);
  writeFileSync(
    script,
    `import { openDatabase } from ${JSON.stringify(path.join(REPO, 'src/db/client.ts'))};
const db = openDatabase({ kind: 'pglite', dir: ${JSON.stringify(dbDir)} });
await db.db.execute('select 1');
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(child));
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}: ${err}`)));
  });
}

describe('PGlite: one opener per directory', () => {
  it('a second process cannot open a directory in use: EmbeddedDatabaseBusyError pointing at DATABASE_URL', async () => {
    const other = path.join(tmp, 'held');
    const child = await holdInChild(other);
    try {
      expect(readFileSync(path.join(other, 'distillery.lock'), 'utf8')).toBe(String(child.pid));
      let err: unknown;
      try {
        openDatabase({ kind: 'pglite', dir: other });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EmbeddedDatabaseBusyError);
      expect((err as Error).message).toContain(`in use by process ${child.pid}`);
      expect((err as Error).message).toContain('DATABASE_URL');
      // The refused opener must not have taken or removed the holder's lock.
      expect(readFileSync(path.join(other, 'distillery.lock'), 'utf8')).toBe(String(child.pid));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    // The holder died without releasing its lock: the stale lock is taken over.
    const reopened = openDatabase({ kind: 'pglite', dir: other });
    try {
      expect(readFileSync(path.join(other, 'distillery.lock'), 'utf8')).toBe(String(process.pid));
      expect(rowsOf<{ one: number }>(await reopened.db.execute('select 1 as one'))).toEqual([{ one: 1 }]);
    } finally {
      await reopened.close();
    }
  });

  // BUG (src/db/client.ts lockEmbedded): a lock holding this process's own pid is treated as stale and taken over, so
  // a second openDatabase on the same directory in the same process succeeds (two PGlite instances on one data
  // directory), and the first close() then removes the lock the second still relies on.
  it('a second openDatabase on the same directory while the first is open throws EmbeddedDatabaseBusyError', async () => {
    // Its own directory, so that if the second open wrongly succeeds it cannot damage the main database.
    const twice = path.join(tmp, 'twice');
    const first = openDatabase({ kind: 'pglite', dir: twice });
    let second: Database | undefined;
    let err: unknown;
    try {
      await first.migrate();
      try {
        second = openDatabase({ kind: 'pglite', dir: twice });
      } catch (e) {
        err = e;
      }
    } finally {
      await second?.close().catch(() => undefined);
      await first.close().catch(() => undefined);
    }
    expect(err).toBeInstanceOf(EmbeddedDatabaseBusyError);
    expect((err as Error).message).toContain('DATABASE_URL');
  });

  it('after close() the directory reopens with the data still there, and the lock is released', async () => {
    const before = await count('interactions', 'lite-a');
    const fbBefore = await count('feedback', 'lite-a');
    expect(before).toBeGreaterThan(0);
    await database.close();
    expect(() => readFileSync(path.join(dir, 'distillery.lock'))).toThrow(/ENOENT/);
    database = openDatabase({ kind: 'pglite', dir });
    await database.migrate();
    expect(await count('interactions', 'lite-a')).toBe(before);
    expect(await count('feedback', 'lite-a')).toBe(fbBefore);
    const res = await insertInteractions(database.db, 'lite-a', 'api', [row(7), row(8)]);
    expect(res.map((r) => r.status)).toEqual(['duplicate', 'stored']);
  });
});
