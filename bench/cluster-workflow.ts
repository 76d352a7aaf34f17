/**
 * Clustering at scale through the real workflow (issue 11): bench/cluster.ts times the bare clustering function;
 * this runs the cluster workflow on a Temporal dev server with a worker in its own process, so heartbeats, blob
 * hand-offs, the embedding cache and the recording transaction are all in the figure.
 *
 *   npx tsx bench/cluster-workflow.ts [--traffic 1000000] [--distinct 400000] [--noise 0.35] [--kill-after S]
 *
 * A fresh Postgres database (127.0.0.1:5432, user postgres; dropped at the end) gets --traffic interactions by
 * COPY: --distinct variants of the shared data sets' real queries (a letter suffix each, so they stay distinct after
 * normalisation), spread Zipf-style as in bench/cluster.ts. The worker's embedder answers each variant with its
 * synthetic vector (real query vector + paraphrase noise), which keeps the real model's speed out of the figure
 * (bench/embeddings.ts measures that). --kill-after S SIGKILLs the worker's process group S seconds into the
 * clustering activity, starts a new worker, and reports that the workflow resumed and how long the retry took.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { from as copyFrom } from 'pg-copy-streams';
import { ALL_THREADS } from '../src/clustering/cluster';
import { dedupKey } from '../src/clustering/dedup';
import { startClustering } from '../src/temporal/starters';
import { loadConfig } from '../src/config';
import { freePort, startTemporalDevServer, venvBin } from '../src/dev/processes';
import { lazyEmbedder } from '../src/embeddings/lazy';
import { normalizeQuery } from '../src/serving/normalize';
import { connectClient } from '../src/temporal/client';
import { ensureTenant } from '../src/tenants/store';
import { createTestDatabase } from '../test/support/postgres';
import { baseQueries, baseVectors, variantText, zipfCounts } from './support/synthetic-queries';

const { values: args } = parseArgs({
  options: {
    traffic: { type: 'string', default: '1000000' },
    distinct: { type: 'string', default: '400000' },
    noise: { type: 'string', default: '0.35' },
    'kill-after': { type: 'string' },
  },
});
const TRAFFIC = Number(args.traffic);
const DISTINCT = Number(args.distinct);
const NOISE = Number(args.noise);
const KILL_AFTER = args['kill-after'] === undefined ? undefined : Number(args['kill-after']);
if (!(DISTINCT > 0 && TRAFFIC >= DISTINCT)) throw new Error('--traffic must be at least --distinct (every variant comes at least once)');
const TENANT = 'bench';
const QUEUE = 'bench-cluster';
const WORKER = fileURLToPath(new URL('./support/cluster-worker.ts', import.meta.url));
const GiB = 2 ** 30;
const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface StageLine {
  name: string;
  event: 'start' | 'end';
  at: number;
  attempt: number;
}

/** A worker process and what it reported. */
interface WorkerProc {
  child: ChildProcess;
  stages: StageLine[];
  phases: Array<{ name: string; phase: string; at: number; attempt: number }>;
  peakRss: number;
  ready: Promise<void>;
}

function startWorker(workerArgs: object, n: number): WorkerProc {
  // Its own process group (detached), so a SIGKILL takes the whole worker (no tsx wrapper: node --import tsx).
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(workerArgs)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const w: WorkerProc = { child, stages: [], phases: [], peakRss: 0, ready: Promise.resolve() };
  const errLines: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => errLines.push(l) > 40 && errLines.shift());
  w.ready = new Promise((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`worker ${n} exited (${code ?? signal}) before it was ready:\n${errLines.join('\n')}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const [kind, ...rest] = line.split(' ');
      if (kind === 'READY') resolve();
      else if (kind === 'RSS') w.peakRss = Math.max(w.peakRss, Number(rest[0]));
      else if (kind === 'PHASE') w.phases.push({ name: rest[0]!, phase: rest[1]!, at: Number(rest[2]), attempt: Number(rest[3]!.split('=')[1]) });
      else if (kind === 'STAGE') {
        const [name, event, at, attempt, rss] = rest;
        w.stages.push({ name: name!, event: event as 'start' | 'end', at: Number(at), attempt: Number(attempt!.split('=')[1]) });
        w.peakRss = Math.max(w.peakRss, Number(rss!.split('=')[1]));
        console.log(`  worker ${n}: ${name} ${event}${event === 'start' ? ` (attempt ${attempt!.split('=')[1]})` : ''}`);
      }
    });
  });
  child.once('exit', (code, signal) => {
    if (signal !== 'SIGKILL' && code !== 0 && code !== null) console.error(`worker ${n} exited with ${code}:\n${errLines.join('\n')}`);
  });
  return w;
}

const killGroup = (w: WorkerProc) => {
  try {
    process.kill(-w.child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
};

function* copyRows(texts: string[], counts: Uint32Array): Generator<string> {
  const csv = (v: string) => `"${v.replace(/"/g, '""')}"`;
  const at = new Date('2026-11-15T12:00:00Z').toISOString();
  let key = 0;
  let batch: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const q = texts[i]!;
    const messages = csv(JSON.stringify([{ role: 'user', content: q }]));
    for (let c = 0; c < counts[i]!; c++, key++) {
      batch.push(`${TENANT},k${key},h${key},import:bench,${at},bench-teacher,${messages},"{}",${csv(q)},"ok"\n`);
      if (batch.length === 5000) {
        yield batch.join('');
        batch = [];
      }
    }
  }
  if (batch.length) yield batch.join('');
}

async function main() {
  const config = loadConfig();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-cluster-wf-'));
  const base = baseQueries();
  const modelId = `${config.embeddings.provider}:${config.embeddings.model}`;
  const t0 = performance.now();
  const { file: baseFile, dims } = await baseVectors(base.texts, lazyEmbedder(config.embeddings), modelId);
  console.log(
    `bench/cluster-workflow: ${base.texts.length} real distinct queries embedded with ${modelId} (or read from ${baseFile}) in ${sec(performance.now() - t0)}, ${dims} dims; ${os.cpus().length} cores, node ${process.version}`,
  );

  const texts = Array.from({ length: DISTINCT }, (_, i) => variantText(base.texts, i));
  const keys = new Set<string>();
  for (const t of texts) {
    const n = normalizeQuery(t);
    if (n.text !== t) throw new Error(`variant text changes under normalisation: ${JSON.stringify(t)} -> ${JSON.stringify(n.text)}`);
    keys.add(dedupKey(n));
  }
  if (keys.size !== DISTINCT) throw new Error(`only ${keys.size} of ${DISTINCT} variants are distinct after normalisation`);
  const counts = zipfCounts(DISTINCT, TRAFFIC);

  const testDb = await createTestDatabase('benchcluster');
  let temporal: Awaited<ReturnType<typeof startTemporalDevServer>> | undefined;
  const workers: WorkerProc[] = [];
  try {
    await ensureTenant(testDb.database.db, TENANT);
    const t1 = performance.now();
    const client = await testDb.database.pool!.connect();
    try {
      await pipeline(
        Readable.from(copyRows(texts, counts)),
        client.query(
          copyFrom(
            'copy interactions (tenant_id, idempotency_key, content_hash, source, occurred_at, teacher_model, messages, response, query_text, answer_text) from stdin with (format csv)',
          ),
        ),
      );
      await client.query('analyze interactions');
    } finally {
      client.release();
    }
    console.log(
      `  ${TRAFFIC.toLocaleString('en')} interactions (${DISTINCT.toLocaleString('en')} distinct queries, Zipf traffic) loaded by COPY in ${sec(performance.now() - t1)}`,
    );

    temporal = await startTemporalDevServer({ cliPath: venvBin('temporal'), port: await freePort(), logFile: path.join(tmp, 'temporal.log') });
    const workerArgs = {
      dbUrl: testDb.url,
      temporalAddress: temporal.address,
      taskQueue: QUEUE,
      blobDir: path.join(tmp, 'blob'),
      baseFile,
      dims,
      noise: NOISE,
    };
    workers.push(startWorker(workerArgs, 1));
    await workers[0]!.ready;
    const tc = await connectClient({ address: temporal.address, namespace: 'default', taskQueue: QUEUE, gpuTaskQueue: `${QUEUE}-gpu`, cliPath: '' });

    const started = Date.now();
    const handle = await startClustering(tc, QUEUE, { tenantId: TENANT, params: { threads: ALL_THREADS } });
    let killedAt: number | undefined;
    let maxStaleness = 0;
    let heartbeats = 0;
    let lastBeat = 0;
    // Watch the clustering activity's heartbeats as the server sees them (while its worker is alive).
    const watch = setInterval(() => {
      void handle.describe().then(
        (d) => {
          for (const a of d.raw.pendingActivities ?? []) {
            if (a.activityType?.name !== 'clusterAndRecord' || !a.lastHeartbeatTime?.seconds) continue;
            const beat = Number(a.lastHeartbeatTime.seconds.toString()) * 1000 + (a.lastHeartbeatTime.nanos ?? 0) / 1e6;
            if (beat !== lastBeat) heartbeats++;
            lastBeat = beat;
            if (killedAt === undefined || beat > killedAt) maxStaleness = Math.max(maxStaleness, Date.now() - beat);
          }
        },
        () => {},
      );
    }, 3000);
    if (KILL_AFTER !== undefined) {
      const first = workers[0]!;
      const poll = setInterval(() => {
        const start = first.stages.find((s) => s.name === 'clusterAndRecord' && s.event === 'start');
        if (!start) return;
        clearInterval(poll);
        setTimeout(() => {
          killedAt = Date.now();
          killGroup(first);
          console.log(`  SIGKILL worker 1 (process group) ${KILL_AFTER} s into clusterAndRecord; starting worker 2`);
          workers.push(startWorker(workerArgs, 2));
        }, KILL_AFTER * 1000);
      }, 200);
    }
    const result = await handle.result();
    const wall = Date.now() - started;
    clearInterval(watch);

    const all = workers.flatMap((w) => w.stages);
    const timeOf = (name: string) => {
      const end = all.filter((s) => s.name === name && s.event === 'end').at(-1);
      const start = end && all.find((s) => s.name === name && s.event === 'start' && s.attempt === end.attempt);
      return end && start ? end.at - start.at : NaN;
    };
    const peak = Math.max(...workers.map((w) => w.peakRss));
    console.log(`  -> ${result.clusters} clusters, ${(100 * result.clusteredShare).toFixed(1)}% of traffic clustered; run ${result.runId}`);
    console.log(
      `  stages: snapshot ${sec(timeOf('snapshotQueries'))}, embed (synthetic vectors, cache writes) ${sec(timeOf('embedQueries'))}, cluster+record ${sec(timeOf('clusterAndRecord'))} (${ALL_THREADS} threads)`,
    );
    // Phases of the clustering attempt that completed, as its heartbeat details named them (5 s resolution).
    const doneAt = all.filter((s) => s.name === 'clusterAndRecord' && s.event === 'end').at(-1);
    const phases = workers.flatMap((w) => w.phases).filter((p) => p.name === 'clusterAndRecord' && p.attempt === doneAt?.attempt);
    const startAt = all.find((s) => s.name === 'clusterAndRecord' && s.event === 'start' && s.attempt === doneAt?.attempt);
    if (doneAt && startAt && phases.length) {
      console.log(
        `  cluster+record phases: reading blobs ${sec(phases[0]!.at - startAt.at)}, ${phases.map((p, i) => `${p.phase} ${sec((phases[i + 1]?.at ?? doneAt.at) - p.at)}`).join(', ')}`,
      );
    }
    console.log(`  clusterAndRecord heartbeats seen by the server: ${heartbeats} changes, at most ${sec(maxStaleness)} old (timeout 120 s)`);
    if (killedAt !== undefined) {
      const retry = workers[1]?.stages.find((s) => s.name === 'clusterAndRecord' && s.event === 'start');
      const done = workers[1]?.stages.find((s) => s.name === 'clusterAndRecord' && s.event === 'end');
      if (!retry || !done) throw new Error('the workflow completed without the new worker retrying clusterAndRecord');
      console.log(
        `  kill: workflow resumed on worker 2 — clusterAndRecord attempt ${retry.attempt} started ${sec(retry.at - killedAt)} after the kill (heartbeat timeout), finished ${sec(done.at - killedAt)} after it`,
      );
    }
    console.log(
      `\nRESULT clustering workflow, ${TRAFFIC.toLocaleString('en')} interactions (${DISTINCT.toLocaleString('en')} distinct): ${sec(wall)} wall snapshot→recorded (goal <= 300 s), worker peak RSS ${(peak / GiB).toFixed(2)} GiB (goal <= 4 GiB)${killedAt !== undefined ? `, worker SIGKILLed ${KILL_AFTER} s into clustering and resumed` : ''}; synthetic embedder (real model speed: bench/embeddings.ts)`,
    );
    await tc.close();
  } finally {
    for (const w of workers) killGroup(w);
    await temporal?.stop();
    await testDb.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
