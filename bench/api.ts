/**
 * HTTP API benchmark (run by hand: `npx tsx bench/api.ts [--flags]`, or `npm run bench:api`). Two figures:
 *
 *  1. Sustained interactions/s for POST /v1/interactions/batch with batches of 500 over loopback: `connections`
 *     closed-loop clients each post a batch, wait for the answer, post the next, for `batch-duration` seconds after
 *     a `batch-warmup`. Prints interactions/s, batches/s and batch latency percentiles.
 *  2. Latency of single POST /v1/interactions at a constant arrival rate (`rate`, default 500/s): open loop, i.e.
 *     request i is scheduled at start + i/rate whatever happened to earlier ones, and its latency is measured from
 *     that scheduled time, so queueing anywhere (generator timers, connection pool, server, database) is counted
 *     rather than hidden by coordinated omission. Prints achieved rate, p50/p90/p99/p99.9/max and errors.
 *
 * The API runs in a child process (bench/support/api-server.ts) on a fresh database, so the generator does not take
 * the server's event loop; the child also reports server-side timings (handler time, transaction time, pool
 * waits, event-loop delay, CPU) used to say where the time goes. Every record carries a unique idempotency key for
 * the run, so each one is really stored; at the end the database row count is checked against what the API
 * reported stored. All requests go to 127.0.0.1. The database is dropped and the child stopped even on error or
 * Ctrl-C.
 *
 * Options (flag `--name=value` or environment `BENCH_NAME`, e.g. BENCH_BATCH_DURATION=30):
 *   --phases=batch,single   which figures to measure
 *   --connections=4         concurrent batch clients
 *   --batch-size=500        records per batch
 *   --batch-duration=15     seconds measured      --batch-warmup=3   seconds not measured
 *   --rate=500              single posts per second (open loop)
 *   --single-duration=20    seconds measured      --single-warmup=3  seconds not measured
 *   --sockets=128           keep-alive connection pool for the single posts
 *   --timeout=30            per-request timeout, seconds
 *   --dataset=bitext-v2     shared data set the records come from
 *   --feedback=true         records carry inline `feedback: { kind: 'accepted' }` (a second insert per transaction)
 *   --prefill=0             interactions stored (in batches) before any phase, so a phase starts on a tenant
 *                           with history rather than an empty table (the insert's plan depends on the table size)
 *   --checkpoint=true       run CHECKPOINT before each measured window, so one phase's WAL is not flushed during
 *                           the next (Postgres is shared: checkpoints requested by others still show, and are counted)
 *   --server-cpu-prof=DIR   run the server child with --cpu-prof, profiles written to DIR on exit
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { SHARED_DATASETS, type SharedDatasetName, loadSharedDataset, toLogRecord } from '../src/datasets/shared';
import { ADMIN_URL } from '../test/support/postgres';
import type { ReadyMessage, ServerStats } from './support/api-server';
import { postJson } from './support/http';
import { type ProcCpu, type Summary, fmt, fmtSummary, machineCpuTicks, procCpuSnapshot, summarize } from './support/stats';

// ---------------------------------------------------------------------------------------------------- options

function option(name: string, fallback: string): string {
  const flag = `--${name}`;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    if (a === flag && argv[i + 1] !== undefined) return argv[i + 1]!;
  }
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? fallback;
}

function numberOption(name: string, fallback: number, min: number, max: number): number {
  const raw = option(name, String(fallback));
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name}: expected a number between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

const KNOWN = new Set([
  'feedback',
  'prefill',
  'checkpoint',
  'phases',
  'connections',
  'batch-size',
  'batch-duration',
  'batch-warmup',
  'rate',
  'single-duration',
  'single-warmup',
  'sockets',
  'timeout',
  'dataset',
  'server-cpu-prof',
]);
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)/.exec(a);
  if (m && !KNOWN.has(m[1]!)) throw new Error(`unknown option ${a}; known: ${[...KNOWN].map((k) => `--${k}`).join(' ')}`);
}

const phases = new Set(
  option('phases', 'batch,single')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const p of phases) if (p !== 'batch' && p !== 'single') throw new Error(`--phases: unknown phase "${p}" (batch, single)`);
const dataset = option('dataset', 'bitext-v2') as SharedDatasetName;
if (!SHARED_DATASETS.includes(dataset)) throw new Error(`--dataset: one of ${SHARED_DATASETS.join(', ')}`);
const cpuProfDir = option('server-cpu-prof', '');
const checkpointFirst = !['0', 'false', 'no'].includes(option('checkpoint', 'true'));
const withFeedback = !['0', 'false', 'no'].includes(option('feedback', 'true'));

const params = {
  connections: numberOption('connections', 4, 1, 256),
  batchSize: numberOption('batch-size', 500, 1, 1000),
  batchDurationS: numberOption('batch-duration', 15, 1, 600),
  batchWarmupS: numberOption('batch-warmup', 3, 0, 600),
  rate: numberOption('rate', 500, 1, 20_000),
  singleDurationS: numberOption('single-duration', 20, 1, 600),
  singleWarmupS: numberOption('single-warmup', 3, 0, 600),
  sockets: numberOption('sockets', 128, 1, 4096),
  timeoutS: numberOption('timeout', 30, 1, 600),
  prefill: numberOption('prefill', 0, 0, 10_000_000),
  dataset,
};

// ---------------------------------------------------------------------------------------------------- run state

/** Set by Ctrl-C or a dead server: every loop stops at its next check. */
const abort = new AbortController();
let abortReason = '';
function stopAll(reason: string): void {
  if (abort.signal.aborted) return;
  abortReason = reason;
  abort.abort();
}

const runId = `bench-${Date.now().toString(36)}-${process.pid}`;
let keySeq = 0;
/** Interactions the API answered as stored (warm-ups included): must equal the rows in the database at the end. */
let reportedStored = 0;

/** Each record as JSON without its opening brace, so a body is cheap string concatenation with a fresh key. */
function loadRecordTails(): string[] {
  const examples = loadSharedDataset(params.dataset);
  if (examples.length === 0) throw new Error(`data set ${params.dataset} is empty`);
  return examples.map((ex, i) => JSON.stringify(toLogRecord(ex, i, { accepted: withFeedback ? undefined : false })).slice(1));
}

function recordJson(tails: string[]): string {
  const n = keySeq++;
  return `{"idempotency_key":"${runId}-${n}",${tails[n % tails.length]}`;
}

// ---------------------------------------------------------------------------------------------------- server child

interface Server {
  child: ChildProcess;
  ready: ReadyMessage;
  stats(): Promise<ServerStats>;
  reset(): void;
}

async function startServer(): Promise<{ child: ChildProcess; ready: Promise<Server> }> {
  const script = fileURLToPath(new URL('./support/api-server.ts', import.meta.url));
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const execArgv = ['--import', tsx, ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(cpuProfDir)}`] : [])];
  const child = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the API server did not start within 60 s')), 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the API server exited before it was ready (code ${code}, signal ${signal})`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const waiters: Array<(s: ServerStats) => void> = [];
    child.on('message', (m: ReadyMessage | ServerStats) => {
      if (m.type === 'stats') waiters.shift()?.(m);
      else if (m.type === 'ready') {
        clearTimeout(timer);
        const url = new URL(m.url);
        if (url.hostname !== '127.0.0.1') {
          reject(new Error(`refusing to load a non-loopback address ${m.url}`));
          return;
        }
        resolve({
          child,
          ready: m,
          reset: () => child.send({ cmd: 'reset' }),
          stats: () =>
            new Promise<ServerStats>((res, rej) => {
              if (!child.connected) {
                rej(new Error('the API server is gone'));
                return;
              }
              const t = setTimeout(() => rej(new Error('no stats from the API server within 10 s')), 10_000);
              waiters.push((s) => {
                clearTimeout(t);
                res(s);
              });
              child.send({ cmd: 'stats' });
            }),
        });
      }
    });
  });
  return { child, ready };
}

/** SIGTERM (the child drops its database), SIGKILL after 20 s; then drop the database here too in case it could not. */
async function stopServer(child: ChildProcess, dbName: string | undefined): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 20_000)));
    if ((await Promise.race([exited, late])) === 'late') {
      console.error('[bench] the API server did not stop within 20 s; killing it');
      child.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  }
  if (dbName) {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    try {
      await admin.connect();
      await admin.query(`drop database if exists "${dbName}" with (force)`);
    } catch (e) {
      console.error(`[bench] could not make sure database ${dbName} is dropped:`, e);
    } finally {
      await admin.end().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------------------------------------------- measurement

interface Window {
  ms: number;
  generatorCores: number;
  machineBusyCores: number | undefined;
  machineIowaitCores: number | undefined;
  machineStealCores: number | undefined;
  /** Postgres processes by role, in cores (the Postgres server is shared: other databases' load shows here too) */
  postgresCores: Record<PgGroup, number> | undefined;
}

/** USER_HZ: /proc reports CPU time in 1/100 s on every Linux. */
const TICKS_PER_S = 100;
type PgGroup = 'bench' | 'helpers' | 'exited' | 'other';
let benchDbName = '';

function pgGroup(p: ProcCpu): PgGroup {
  if (!p.cmdline.startsWith('postgres: ')) return 'helpers'; // the postmaster
  if (benchDbName && p.cmdline.includes(` ${benchDbName} `)) return 'bench';
  if (/ \d+\.\d+\.\d+\.\d+\(\d+\)| \[local\]/.test(p.cmdline)) return 'other';
  return 'helpers'; // WAL writer, checkpointer, background writer, launchers
}

/**
 * Postgres CPU between two snapshots, by role: backends of the bench database, other databases' backends, the
 * postmaster and its helpers (WAL writer, checkpointer…), and processes that exited in between (the pool closes
 * idle connections): the postmaster's reaped-children time grew by their whole lives, less what they had used
 * before the window.
 */
function postgresCores(before: ProcCpu[], after: ProcCpu[], ms: number): Record<PgGroup, number> {
  const ticks: Record<PgGroup, number> = { bench: 0, helpers: 0, exited: 0, other: 0 };
  const prior = new Map(before.map((p) => [p.pid, p]));
  const alive = new Set(after.map((p) => p.pid));
  for (const p of after) ticks[pgGroup(p)] += p.ticks - (prior.get(p.pid)?.ticks ?? 0);
  const isPostmaster = (p: ProcCpu) => !p.cmdline.startsWith('postgres: ');
  const reaped = (after.find(isPostmaster)?.childTicks ?? 0) - (before.find(isPostmaster)?.childTicks ?? 0);
  const usedBefore = before.filter((p) => !alive.has(p.pid)).reduce((a, p) => a + p.ticks, 0);
  ticks.exited = Math.max(0, reaped - usedBefore);
  const cores = (t: number) => Math.max(0, t) / TICKS_PER_S / (ms / 1000);
  return { bench: cores(ticks.bench), helpers: cores(ticks.helpers), exited: cores(ticks.exited), other: cores(ticks.other) };
}

const postgresProcs = () => procCpuSnapshot((comm) => comm === 'postgres');

function startWindow() {
  const t0 = performance.now();
  const cpu = process.cpuUsage();
  const ticks = machineCpuTicks();
  const pg0 = postgresProcs();
  return (): Window => {
    const ms = performance.now() - t0;
    const used = process.cpuUsage(cpu);
    const after = machineCpuTicks();
    const pg1 = postgresProcs();
    return {
      ms,
      generatorCores: (used.user + used.system) / 1000 / ms,
      machineBusyCores: ticks && after && after.total > ticks.total ? ((after.busy - ticks.busy) / (after.total - ticks.total)) * os.cpus().length : undefined,
      machineIowaitCores:
        ticks && after && after.total > ticks.total ? ((after.iowait - ticks.iowait) / (after.total - ticks.total)) * os.cpus().length : undefined,
      machineStealCores:
        ticks && after && after.total > ticks.total ? ((after.steal - ticks.steal) / (after.total - ticks.total)) * os.cpus().length : undefined,
      postgresCores: pg0 && pg1 ? postgresCores(pg0, pg1, ms) : undefined,
    };
  };
}

/** Whole-machine busy cores over `ms` (other work on the machine skews every figure here). */
async function machineLoad(ms: number): Promise<number | undefined> {
  const w = startWindow();
  await new Promise((r) => setTimeout(r, ms));
  return w().machineBusyCores;
}

interface BatchResult {
  window: Window;
  batches: number;
  stored: number;
  duplicates: number;
  rejected: number;
  errors: number;
  errorSamples: string[];
  latency: Summary;
  bodyBytes: number;
}

/** Closed loop: `connections` clients, each posting a batch and waiting for its answer, until the deadline (or
 *  until `maxItems` records have been sent). */
async function runBatches(server: Server, tails: string[], seconds: number, maxItems = Infinity): Promise<BatchResult> {
  const url = new URL(server.ready.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: params.connections });
  const headers = { authorization: `Bearer ${server.ready.key}` };
  const latencies: number[] = [];
  const r = { batches: 0, stored: 0, duplicates: 0, rejected: 0, errors: 0, errorSamples: [] as string[], bodyBytes: 0 };
  const endWindow = startWindow();
  const deadline = performance.now() + seconds * 1000;
  let issued = 0;
  const client = async () => {
    while (performance.now() < deadline && issued < maxItems && !abort.signal.aborted) {
      const n = Math.min(params.batchSize, maxItems - issued);
      issued += n;
      const items: string[] = new Array(n);
      for (let i = 0; i < n; i++) items[i] = recordJson(tails);
      const body = `{"interactions":[${items.join(',')}]}`;
      r.bodyBytes = Buffer.byteLength(body);
      const t0 = performance.now();
      try {
        const res = await postJson(agent, url, '/v1/interactions/batch', body, headers, params.timeoutS * 1000);
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 300)}`);
        const parsed = JSON.parse(res.body) as { stored: number; duplicates: number; rejected: number };
        r.batches++;
        r.stored += parsed.stored;
        r.duplicates += parsed.duplicates;
        r.rejected += parsed.rejected;
        reportedStored += parsed.stored;
        latencies.push(ms);
      } catch (e) {
        r.errors++;
        if (r.errorSamples.length < 5) r.errorSamples.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: params.connections }, client));
  const window = endWindow();
  agent.destroy();
  return { ...r, window, latency: summarize(latencies) };
}

interface SingleResult {
  window: Window;
  scheduled: number;
  sent: number;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  errorSamples: string[];
  /** from the scheduled start (what a caller arriving on time would see) */
  latency: Summary;
  /** from the moment the generator called http.request (excludes generator lateness) */
  service: Summary;
  /** how late the generator issued requests relative to their schedule */
  lateness: Summary;
  /** scheduled start of the first request to the last answer */
  spanMs: number;
  maxInFlight: number;
  socketsOpened: number;
}

/** Open loop at `rate`/s for `seconds`: request i starts at t0 + i/rate regardless of earlier answers. */
async function runSingles(server: Server, tails: string[], seconds: number): Promise<SingleResult> {
  const url = new URL(server.ready.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: params.sockets, maxFreeSockets: params.sockets });
  let socketsOpened = 0;
  const origCreate = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<typeof origCreate>) => {
    socketsOpened++;
    return origCreate(...args);
  }) as typeof agent.createConnection;
  const headers = { authorization: `Bearer ${server.ready.key}` };
  const total = Math.round(seconds * params.rate);
  const interval = 1000 / params.rate;
  // Bodies are built ahead so building them does not delay the schedule.
  const bodies = Array.from({ length: total }, () => recordJson(tails));
  const latency: number[] = [];
  const service: number[] = [];
  const lateness: number[] = [];
  const statuses: Record<string, number> = {};
  const errorSamples: string[] = [];
  let ok = 0;
  let errors = 0;
  let sent = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let lastDone = 0;

  const endWindow = startWindow();
  const t0 = performance.now() + 20;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  let schedulingOver = false;
  const maybeDone = () => {
    if (schedulingOver && inFlight === 0) allDone();
  };

  const fire = (i: number, scheduledAt: number) => {
    const sentAt = performance.now();
    lateness.push(sentAt - scheduledAt);
    sent++;
    inFlight++;
    if (inFlight > maxInFlight) maxInFlight = inFlight;
    const body = bodies[i]!;
    bodies[i] = '';
    postJson(agent, url, '/v1/interactions', body, headers, params.timeoutS * 1000).then(
      (res) => {
        const end = performance.now();
        lastDone = end;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 201) {
          ok++;
          reportedStored++;
          latency.push(end - scheduledAt);
          service.push(end - sentAt);
        } else {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(`HTTP ${res.status}: ${res.body.slice(0, 300)}`);
        }
        inFlight--;
        maybeDone();
      },
      (e: Error) => {
        lastDone = performance.now();
        statuses.socket = (statuses.socket ?? 0) + 1;
        errors++;
        if (errorSamples.length < 5) errorSamples.push(e.message);
        inFlight--;
        maybeDone();
      },
    );
  };

  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total && t0 + next * interval <= now && !abort.signal.aborted) {
      fire(next, t0 + next * interval);
      next++;
    }
    if (next < total && !abort.signal.aborted) {
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    } else {
      schedulingOver = true;
      maybeDone();
    }
  };
  setTimeout(tick, Math.max(0, t0 - performance.now()));
  await done; // bounded: every request ends by its timeout
  const window = endWindow();
  agent.destroy();
  return {
    window,
    scheduled: total,
    sent,
    ok,
    errors,
    statuses,
    errorSamples,
    latency: summarize(latency),
    service: summarize(service),
    lateness: summarize(lateness),
    spanMs: lastDone - t0,
    maxInFlight,
    socketsOpened,
  };
}

async function countRows(dbUrl: string): Promise<{ interactions: number; feedback: number }> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ i: string; f: string }>('select (select count(*) from interactions) as i, (select count(*) from feedback) as f');
    return { interactions: Number(rows[0]!.i), feedback: Number(rows[0]!.f) };
  } finally {
    await c.end();
  }
}

/** Postgres-server-wide counters: checkpoints (another session's CREATE/DROP DATABASE forces one) and WAL written. */
interface PgSnapshot {
  checkpointsTimed: number;
  checkpointsRequested: number;
  buffersCheckpoint: number;
  walBytes: bigint;
}

interface PgDelta {
  checkpoints: number;
  requested: number;
  buffersCheckpoint: number;
  walMB: number;
}

function lsnBytes(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

async function pgSnapshot(admin: pg.Client): Promise<PgSnapshot> {
  const { rows } = await admin.query<{ t: string; r: string; b: string; lsn: string }>(
    'select checkpoints_timed as t, checkpoints_req as r, buffers_checkpoint as b, pg_current_wal_lsn()::text as lsn from pg_stat_bgwriter',
  );
  const r = rows[0]!;
  return { checkpointsTimed: Number(r.t), checkpointsRequested: Number(r.r), buffersCheckpoint: Number(r.b), walBytes: lsnBytes(r.lsn) };
}

function pgDelta(a: PgSnapshot, b: PgSnapshot): PgDelta {
  return {
    checkpoints: b.checkpointsTimed - a.checkpointsTimed + b.checkpointsRequested - a.checkpointsRequested,
    requested: b.checkpointsRequested - a.checkpointsRequested,
    buffersCheckpoint: b.buffersCheckpoint - a.buffersCheckpoint,
    walMB: Number(b.walBytes - a.walBytes) / 2 ** 20,
  };
}

/** Signs that something besides this benchmark used the machine or the Postgres server during a window. */
function disturbances(w: Window, s: ServerStats, d: PgDelta): string[] {
  const out: string[] = [];
  const pgc = w.postgresCores;
  if (pgc && pgc.other > 0.05) out.push(`other databases' backends used ${fmt(pgc.other, 2)} cores`);
  if (w.machineBusyCores !== undefined) {
    const rest = w.machineBusyCores - w.generatorCores - s.cpuCores - (pgc ? pgc.bench + pgc.helpers + pgc.exited + pgc.other : 0);
    if (rest > 0.2) out.push(`other processes used ${fmt(rest, 2)} cores`);
  }
  if (d.checkpoints > 0) out.push(`${d.checkpoints} checkpoint(s) ran (this run's own WAL volume, or another session)`);
  return out;
}

function pgLine(d: PgDelta, ms: number): string {
  return (
    `postgres server: ${fmt(d.walMB, 0)} MB WAL (${fmt(d.walMB / (ms / 1000), 1)} MB/s); ${d.checkpoints} checkpoint(s) completed during the window ` +
    `(${d.requested} requested: by WAL volume over max_wal_size, a CHECKPOINT command or a CREATE/DROP DATABASE in any session; ${d.buffersCheckpoint} buffers written by checkpoints)`
  );
}

// ---------------------------------------------------------------------------------------------------- report

function warning(found: string[]): string[] {
  return found.length ? [`    NOTE: during this window ${found.join('; ')}: the figure may be skewed, compare with a quiet run`] : [];
}

function cpuLine(w: Window, s: ServerStats): string {
  const machine = w.machineBusyCores;
  const pgc = w.postgresCores;
  const known = w.generatorCores + s.cpuCores + (pgc ? pgc.bench + pgc.helpers + pgc.exited + pgc.other : 0);
  return (
    `CPU (cores busy, of ${os.cpus().length}): server ${fmt(s.cpuCores, 2)}, generator ${fmt(w.generatorCores, 2)}` +
    (pgc
      ? `, postgres: bench db ${fmt(pgc.bench, 2)} + helpers ${fmt(pgc.helpers, 2)} + closed connections ${fmt(pgc.exited, 2)} + other dbs ${fmt(pgc.other, 2)}`
      : '') +
    (machine === undefined
      ? ''
      : `, everything else ${fmt(Math.max(0, machine - known), 2)}; whole machine ${fmt(machine, 2)} (of which ${fmt(w.machineStealCores ?? NaN, 2)} stolen by the hypervisor; + ${fmt(w.machineIowaitCores ?? NaN, 2)} idle in I/O wait)`)
  );
}

function serverLines(s: ServerStats, route: string): string[] {
  const h = s.handler[route];
  return [
    `  server: handler ${h ? fmtSummary(h) : '-'}`,
    // Single posts and batches are one statement each (no explicit transaction): these lines appear only if some
    // path opens one.
    ...(s.transaction.count
      ? [
          `  server: db transaction ${fmtSummary(s.transaction)}`,
          `  server: pool acquire ${fmtSummary(s.poolAcquire)}; most waiting at once ${s.maxPoolWaiting}`,
        ]
      : []),
    ...Object.entries(s.statements).map(([kind, v]) => `  server: statement ${kind.padEnd(19)} ${fmtSummary(v)}`),
    `  server: event-loop delay (beyond the 10 ms sampling interval) p50 ${fmt(s.eventLoopDelay.p50)} / p99 ${fmt(s.eventLoopDelay.p99)} / max ${fmt(s.eventLoopDelay.max)} ms`,
  ];
}

// ---------------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = new Date();
  console.log(`[bench] ${runId}: loading ${params.dataset}…`);
  const tails = loadRecordTails();
  const avgRecordBytes = Math.round(tails.reduce((a, t) => a + t.length + 1, 0) / tails.length);
  console.log(`[bench] ${tails.length} records, ~${avgRecordBytes} bytes each; starting the API server…`);

  const { child, ready } = await startServer();
  let dbName: string | undefined;
  // Ctrl-C reaches this process more than once (the terminal signals the whole group and the npx/tsx wrappers
  // relay it), so only a signal a while after the first one forces the exit.
  let firstSignalAt = 0;
  const onSignal = (sig: string) => {
    const now = Date.now();
    if (firstSignalAt === 0) {
      firstSignalAt = now;
      console.error(`[bench] ${sig}: stopping and cleaning up (again to force)`);
      stopAll(sig);
      return;
    }
    if (now - firstSignalAt < 2000) return;
    console.error(`[bench] ${sig} again: killing the server, dropping its database and exiting`);
    setTimeout(() => process.exit(130), 10_000).unref();
    child.kill('SIGKILL');
    void stopServer(child, dbName).finally(() => process.exit(130));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  let exitCode = 0;
  let idleLoad: number | undefined;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  try {
    await admin.connect();
    const server = await ready;
    dbName = server.ready.dbName;
    benchDbName = dbName;
    child.once('exit', (code, signal) => stopAll(`the API server exited (code ${code}, signal ${signal})`));
    console.log(`[bench] server pid ${server.ready.pid} at ${server.ready.url}, database ${dbName} (pool max ${server.ready.poolMax})`);
    idleLoad = await machineLoad(2000);
    console.log(`[bench] machine load before starting: ${fmt(idleLoad ?? NaN, 2)} cores busy`);

    if (params.prefill > 0 && !abort.signal.aborted) {
      console.log(`[bench] prefilling ${params.prefill} interactions…`);
      const r = await runBatches(server, tails, 600, params.prefill);
      if (r.errors) throw new Error(`prefill failed: ${r.errorSamples.join('; ')}`);
    }

    const summary: string[] = [];
    let batch: { r: BatchResult; s: ServerStats; p: PgDelta; before: number } | undefined;
    let single: { r: SingleResult; s: ServerStats; p: PgDelta; before: number } | undefined;

    if (phases.has('batch') && !abort.signal.aborted) {
      if (params.batchWarmupS > 0) {
        console.log(`[bench] batch warm-up ${params.batchWarmupS} s…`);
        await runBatches(server, tails, params.batchWarmupS);
      }
      if (checkpointFirst) await admin.query('checkpoint');
      const before = (await countRows(server.ready.dbUrl)).interactions;
      console.log(`[bench] batches of ${params.batchSize}, ${params.connections} connections, ${params.batchDurationS} s, table holds ${before} interactions…`);
      const pg0 = await pgSnapshot(admin);
      server.reset();
      const r = await runBatches(server, tails, params.batchDurationS);
      const s = await server.stats();
      const p = pgDelta(pg0, await pgSnapshot(admin));
      batch = { r, s, p, before };
      const secs = r.window.ms / 1000;
      console.log(
        [
          `[bench] batch phase: ${r.batches} batches (${r.bodyBytes} bytes each), ${r.stored} stored, ${r.duplicates} duplicates, ${r.rejected} rejected, ${r.errors} errors in ${fmt(secs, 2)} s`,
          `  ${fmt(r.stored / secs, 0)} interactions/s, ${fmt(r.batches / secs, 2)} batches/s`,
          `  batch latency ${fmtSummary(r.latency)}`,
          ...serverLines(s, 'POST /v1/interactions/batch'),
          `  ${cpuLine(r.window, s)}`,
          `  ${pgLine(p, r.window.ms)}`,
          ...r.errorSamples.map((e) => `  error: ${e}`),
        ].join('\n'),
      );
    }

    if (phases.has('single') && !abort.signal.aborted) {
      if (params.singleWarmupS > 0) {
        console.log(`[bench] single-post warm-up ${params.singleWarmupS} s at ${params.rate}/s…`);
        await runSingles(server, tails, params.singleWarmupS);
      }
      if (checkpointFirst) await admin.query('checkpoint');
      const before = (await countRows(server.ready.dbUrl)).interactions;
      console.log(
        `[bench] single posts, open loop at ${params.rate}/s, ${params.singleDurationS} s, up to ${params.sockets} keep-alive connections, table holds ${before} interactions…`,
      );
      const pg0 = await pgSnapshot(admin);
      server.reset();
      const r = await runSingles(server, tails, params.singleDurationS);
      const s = await server.stats();
      const p = pgDelta(pg0, await pgSnapshot(admin));
      single = { r, s, p, before };
      console.log(
        [
          `[bench] single phase: ${r.sent}/${r.scheduled} sent, ${r.ok} ok (201), ${r.errors} errors; statuses ${JSON.stringify(r.statuses)}`,
          `  achieved ${fmt(r.ok / (r.spanMs / 1000), 1)} ok/s over ${fmt(r.spanMs / 1000, 2)} s (target ${params.rate}/s)`,
          `  latency from scheduled start ${fmtSummary(r.latency)}`,
          `  latency from send            ${fmtSummary(r.service)}`,
          `  generator lateness           ${fmtSummary(r.lateness)}`,
          `  in flight at most ${r.maxInFlight}, connections opened ${r.socketsOpened}`,
          ...serverLines(s, 'POST /v1/interactions'),
          `  ${cpuLine(r.window, s)}`,
          `  ${pgLine(p, r.window.ms)}`,
          ...r.errorSamples.map((e) => `  error: ${e}`),
        ].join('\n'),
      );
    }

    // Verification: every interaction the API said it stored is a row, and nothing else is.
    let verified = false;
    let rows: { interactions: number; feedback: number } | undefined;
    if (!abort.signal.aborted) {
      rows = await countRows(server.ready.dbUrl);
      verified = rows.interactions === reportedStored;
      if (!verified) exitCode = 1;
    }

    summary.push('', '==================== Distillery API benchmark ====================');
    summary.push(`run ${runId}, ${started.toISOString()}`);
    summary.push(
      `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}; node ${process.version}; ` +
        `server and generator in separate processes, Postgres on 127.0.0.1:5432 (pool max ${server.ready.poolMax})`,
    );
    summary.push(`params: ${JSON.stringify({ ...params, checkpointFirst, withFeedback })}`);
    summary.push(
      `machine load before the run: ${fmt(idleLoad ?? NaN, 2)} cores busy` +
        ((idleLoad ?? 0) > 0.25 ? ' — WARNING: other work is running on this machine; the figures below are skewed by it' : ''),
    );
    if (batch) {
      const { r } = batch;
      const secs = r.window.ms / 1000;
      summary.push(
        `[1] batches of ${params.batchSize}, ${params.connections} connections, ${fmt(secs, 1)} s: ` +
          `${fmt(r.stored / secs, 0)} interactions/s, ${fmt(r.batches / secs, 2)} batches/s, ` +
          `batch latency p50 ${fmt(r.latency.p50)} ms / p99 ${fmt(r.latency.p99)} ms, errors ${r.errors}`,
        `    table held ${batch.before} interactions at the start`,
        `    ${cpuLine(r.window, batch.s)}`,
        `    ${pgLine(batch.p, r.window.ms)}`,
        ...warning(disturbances(r.window, batch.s, batch.p)),
      );
    }
    if (single) {
      const { r } = single;
      summary.push(
        `[2] single posts, open loop at ${params.rate}/s for ${params.singleDurationS} s: achieved ${fmt(r.ok / (r.spanMs / 1000), 1)}/s, ` +
          `latency p50 ${fmt(r.latency.p50)} / p90 ${fmt(r.latency.p90)} / p99 ${fmt(r.latency.p99)} / p99.9 ${fmt(r.latency.p999)} / max ${fmt(r.latency.max)} ms, errors ${r.errors}`,
        `    table held ${single.before} interactions at the start${single.s.transaction.count ? `; server-side transaction p99 ${fmt(single.s.transaction.p99)} ms, pool acquire p99 ${fmt(single.s.poolAcquire.p99)} ms` : ''}`,
        `    ${cpuLine(r.window, single.s)}`,
        `    ${pgLine(single.p, r.window.ms)}`,
        ...warning(disturbances(r.window, single.s, single.p)),
      );
    }
    if (rows) {
      summary.push(
        `DB check: ${rows.interactions} interaction rows (${rows.feedback} feedback rows) vs ${reportedStored} reported stored (warm-ups included): ${verified ? 'OK' : 'MISMATCH'}`,
      );
    }
    if (abort.signal.aborted) {
      summary.push(`ABORTED: ${abortReason}`);
      exitCode = 1;
    }
    summary.push('==================================================================');
    console.log(summary.join('\n'));
  } catch (e) {
    console.error('[bench] failed:', e, abortReason ? `(${abortReason})` : '');
    exitCode = 1;
  } finally {
    await admin.end().catch(() => {});
    child.removeAllListeners('exit');
    await stopServer(child, dbName);
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
