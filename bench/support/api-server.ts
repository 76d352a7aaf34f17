/**
 * The API under benchmark, in its own process so the load generator does not share its event loop.
 *
 * Creates a fresh migrated database on the machine's Postgres (test/support/postgres.ts), a tenant and an API key,
 * and listens on 127.0.0.1 on a free port. Then:
 *   - started by bench/api.ts through fork(): sends `{ type: 'ready', url, key, dbName, dbUrl, tenant }` over IPC and
 *     answers `{ cmd: 'reset' }` / `{ cmd: 'stats' }` with server-side timings (see ServerStats);
 *   - run by hand (`npx tsx bench/support/api-server.ts`): prints the same object as one JSON line on stdout, for
 *     any other load tool, and serves until SIGINT/SIGTERM.
 * Either way it drops its database on SIGTERM, SIGINT, loss of the IPC channel (the parent died) or a fatal error.
 */
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import { buildApi } from '../../src/api/server';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { createApiKey } from '../../src/keys/store';
import { ensureTenant } from '../../src/tenants/store';
import { createTestDatabase } from '../../test/support/postgres';
import { summarize, type Summary } from './stats';

export interface ReadyMessage {
  type: 'ready';
  url: string;
  key: string;
  tenant: string;
  dbName: string;
  dbUrl: string;
  pid: number;
  poolMax: number;
}

/** Server-side view of one measurement window (between a `reset` and a `stats`). */
export interface ServerStats {
  type: 'stats';
  windowMs: number;
  /** request headers parsed → response finished, per route, in ms */
  handler: Record<string, Summary>;
  /** db.transaction() wall time (pool acquire + BEGIN + statements + COMMIT, incl. waiting for this event loop), ms */
  transaction: Summary;
  /** time to get a pooled connection for a transaction, ms */
  poolAcquire: Summary;
  /** most transactions waiting for a connection at once */
  maxPoolWaiting: number;
  /** round trip of each statement on a transaction's connection (call → result in this process), by kind, ms */
  statements: Record<string, Summary>;
  /** event-loop delay beyond the sampler's 10 ms interval (perf_hooks monitorEventLoopDelay), ms */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** this process's CPU time in the window, as a fraction of one core */
  cpuCores: number;
}

const API: Config['api'] = { host: '127.0.0.1', port: 0, bodyLimitBytes: 10 * 1024 * 1024, batchMaxItems: 1000 };
const TENANT = 'bench';

async function main(): Promise<void> {
  // Handlers first: a signal while the database is being created must still drop it.
  const created = createTestDatabase('bench');
  let stopping: Promise<void> | undefined;
  let app: Awaited<ReturnType<typeof buildApi>> | undefined;
  const stop = (code: number) => {
    stopping ??= (async () => {
      // A stuck close must not keep the process around (the parent drops the database in that case).
      const guard = setTimeout(() => process.exit(code || 1), 15_000);
      guard.unref();
      try {
        await app?.close();
      } catch (e) {
        console.error('[api-server] close failed:', e);
      }
      try {
        await (await created).drop();
      } catch (e) {
        console.error('[api-server] could not drop the bench database:', e);
      }
      process.exit(code);
    })();
    return stopping;
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('disconnect', () => void stop(0));
  process.on('uncaughtException', (e) => {
    console.error('[api-server] uncaught:', e);
    void stop(1);
  });
  process.on('unhandledRejection', (e) => {
    console.error('[api-server] unhandled rejection:', e);
    void stop(1);
  });

  try {
    const testDb = await created;
    const db = testDb.database.db;
    const pool = testDb.database.pool!;
    await ensureTenant(db, TENANT);
    const key = await createApiKey(db, TENANT);

    const probe = instrument(db, pool);
    app = await buildApi({ db, api: API, logLevel: 'warn' });
    probe.watchServer(app.server);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;

    const ready: ReadyMessage = {
      type: 'ready',
      url: `http://127.0.0.1:${port}`,
      key,
      tenant: TENANT,
      dbName: testDb.name,
      dbUrl: testDb.url,
      pid: process.pid,
      poolMax: pool.options.max ?? 10,
    };
    if (process.send) {
      process.on('message', (m: { cmd?: string }) => {
        if (m?.cmd === 'reset') probe.reset();
        else if (m?.cmd === 'stats') process.send!(probe.stats());
      });
      process.send(ready);
    } else {
      console.log(JSON.stringify(ready));
    }
  } catch (e) {
    console.error('[api-server] failed to start:', e);
    await stop(1);
  }
}

/** Timings taken inside the server: handler time per route, transaction and pool-acquire time, loop delay, CPU. */
function instrument(db: Db, pool: import('pg').Pool) {
  let handler = new Map<string, number[]>();
  let transaction: number[] = [];
  let acquire: number[] = [];
  let statements = new Map<string, number[]>();
  let waiting = 0;
  let maxWaiting = 0;
  let since = performance.now();
  let cpu = process.cpuUsage();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  const tx = db.transaction.bind(db);
  (db as { transaction: unknown }).transaction = async (...args: Parameters<Db['transaction']>) => {
    const t0 = performance.now();
    try {
      return await tx(...args);
    } finally {
      transaction.push(performance.now() - t0);
    }
  };

  // drizzle's node-postgres transaction calls pool.connect() (promise form); pool.query uses the callback form.
  const connect = pool.connect.bind(pool) as (...a: unknown[]) => unknown;
  (pool as { connect: unknown }).connect = (...args: unknown[]) => {
    if (args.length > 0) return connect(...args);
    const t0 = performance.now();
    waiting++;
    maxWaiting = Math.max(maxWaiting, waiting);
    return (connect() as Promise<import('pg').PoolClient>)
      .then((client) => {
        timeStatements(client);
        return client;
      })
      .finally(() => {
        waiting--;
        acquire.push(performance.now() - t0);
      });
  };

  const patched = new WeakSet<object>();
  const timeStatements = (client: import('pg').PoolClient) => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      if (!(result instanceof Promise)) return result;
      const first = args[0];
      const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
      const kind = statementKind(text);
      const t0 = performance.now();
      return result.finally(() => {
        let list = statements.get(kind);
        if (!list) statements.set(kind, (list = []));
        list.push(performance.now() - t0);
      });
    };
  };

  return {
    watchServer(server: import('node:http').Server) {
      server.prependListener('request', (req, res) => {
        const t0 = performance.now();
        const route = `${req.method} ${(req.url ?? '').split('?')[0]}`;
        res.once('finish', () => {
          let list = handler.get(route);
          if (!list) handler.set(route, (list = []));
          list.push(performance.now() - t0);
        });
      });
    },
    reset() {
      handler = new Map();
      transaction = [];
      acquire = [];
      statements = new Map();
      maxWaiting = waiting;
      since = performance.now();
      cpu = process.cpuUsage();
      loop.reset();
    },
    stats(): ServerStats {
      const windowMs = performance.now() - since;
      const used = process.cpuUsage(cpu);
      return {
        type: 'stats',
        windowMs,
        handler: Object.fromEntries([...handler].map(([route, v]) => [route, summarize(v)])),
        transaction: summarize(transaction),
        poolAcquire: summarize(acquire),
        maxPoolWaiting: maxWaiting,
        statements: Object.fromEntries([...statements].map(([kind, v]) => [kind, summarize(v)])),
        // The sampler's values include its own 10 ms interval.
        eventLoopDelay: {
          p50: Math.max(0, loop.percentile(50) / 1e6 - 10),
          p99: Math.max(0, loop.percentile(99) / 1e6 - 10),
          max: Math.max(0, loop.max / 1e6 - 10),
        },
        cpuCores: (used.user + used.system) / 1000 / windowMs,
      };
    },
  };
}

function statementKind(text: string): string {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  if (t.startsWith('begin')) return 'begin';
  if (t.startsWith('commit')) return 'commit';
  if (t.startsWith('rollback')) return 'rollback';
  if (t.startsWith('with input')) return 'insert interactions';
  if (t.startsWith('insert into feedback')) return 'insert feedback';
  return t.split(' ').slice(0, 3).join(' ');
}

void main();
