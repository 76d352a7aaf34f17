import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import pg from 'pg';
import type { Config } from '../config';
import * as schema from './schema';

/** The one database type the code uses; node-postgres and PGlite both satisfy it behind the same schema. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Present for real Postgres only: bulk paths (COPY in benchmarks) need a raw pool. */
  pool?: pg.Pool;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export function openDatabase(config: Config['database']): Database {
  if (config.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: config.url,
      max: config.poolMax,
      connectionTimeoutMillis: 10_000,
      // A statement that runs this long is a bug or a lock; fail it rather than hang an activity forever.
      statement_timeout: 120_000,
      idle_in_transaction_session_timeout: 60_000,
    });
    pool.on('error', () => {
      /* idle client errors are surfaced on the next query; keep the process alive */
    });
    // pg-pool listens for errors only on idle clients: a client checked out (a transaction, a statement in flight)
    // whose backend is terminated emits 'error' with no listener, which kills the process. The statement in flight
    // rejects with the same error (a retryable failure for the activity), and the pool drops the broken client on
    // release, so the listener has nothing else to do.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const db = drizzlePg(pool, { schema }) as unknown as Db;
    return {
      db,
      kind: 'postgres',
      pool,
      migrate: () => migratePg(db as never, { migrationsFolder: MIGRATIONS_DIR }),
      close: () => pool.end(),
    };
  }
  mkdirSync(config.dir, { recursive: true });
  const releaseLock = lockEmbedded(config.dir);
  const client = new PGlite(config.dir);
  const db = drizzlePglite(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    migrate: () => migratePglite(db as never, { migrationsFolder: MIGRATIONS_DIR }),
    close: async () => {
      await client.close();
      releaseLock();
    },
  };
}

/**
 * PGlite is one process's database: two processes opening the same directory corrupt it. A pid lock file turns
 * that into a clear error (a stale lock from a dead process is taken over).
 */
function lockEmbedded(dir: string): () => void {
  const lock = path.join(dir, 'distillery.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lock, 'utf8'));
      // Our own pid counts as a holder too: a second PGlite on one directory in one process corrupts it just the same.
      if (pid && isAlive(pid)) {
        throw new EmbeddedDatabaseBusyError(
          `the embedded database at ${dir} is in use by process ${pid} (a running \`distillery dev\`?): stop it, or set DATABASE_URL so several processes share one Postgres`,
        );
      }
      rmSync(lock, { force: true });
    }
  }
  throw new EmbeddedDatabaseBusyError(`could not lock the embedded database at ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class EmbeddedDatabaseBusyError extends Error {
  override readonly name = 'EmbeddedDatabaseBusyError';
}

/** Rows of a raw `db.execute(sql…)`: node-postgres and PGlite both return `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  return (result as { rows: T[] }).rows;
}
