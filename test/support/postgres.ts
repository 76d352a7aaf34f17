import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type Database, openDatabase } from '../../src/db/client';

/** The machine's real Postgres (trust auth); override with TEST_PG_ADMIN_URL. */
export const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function databaseUrl(name: string): string {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a uniquely named database, migrates it, and returns it with a drop() for teardown. */
export async function createTestDatabase(label = 'test'): Promise<{ name: string; url: string; database: Database; drop(): Promise<void> }> {
  const name = `distillery_${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const database = openDatabase({ kind: 'postgres', url, poolMax: 10 });
  await database.migrate();
  return {
    name,
    url,
    database,
    async drop() {
      await database.close();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
