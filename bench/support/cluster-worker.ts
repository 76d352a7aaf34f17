/**
 * The worker process of bench/cluster-workflow.ts: a real Temporal worker (workflows + CPU activities) whose
 * embedder answers with the synthetic variant vectors (rebuilt here from the base vectors file and the noise, the
 * same function of each variant's index as the benchmark's texts). A process of its own, so its peak RSS is its own
 * and the benchmark can SIGKILL it. Reports on stdout, one line each:
 *   STAGE <activity> start|end <epoch ms> attempt=<n> maxrss=<bytes>, PHASE <activity> <phase> <epoch ms> attempt=<n>
 *   (a new phase in its heartbeat details) and RSS <maxrss bytes> every 2 s.
 *
 *   node --import tsx bench/support/cluster-worker.ts '<json: {dbUrl, temporalAddress, taskQueue, blobDir, baseFile, dims, noise}>'
 */
import { readFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import { cpuActivities } from '../../app/root';
import { loadConfig } from '../../src/config';
import { FsBlobStore } from '../../src/blob';
import { openDatabase } from '../../src/db/client';
import { createWorker, installWorkerRuntime } from '../../src/temporal/worker';
import { syntheticEmbedder } from './synthetic-queries';

interface WorkerArgs {
  dbUrl: string;
  temporalAddress: string;
  taskQueue: string;
  blobDir: string;
  baseFile: string;
  dims: number;
  noise: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
const maxRss = () => process.resourceUsage().maxRSS * 1024;

async function main() {
  installWorkerRuntime('warn');
  const buf = readFileSync(args.baseFile);
  const base = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const embedder = syntheticEmbedder(base, args.dims, args.noise);
  const database = openDatabase({ kind: 'postgres', url: args.dbUrl, poolMax: 10 });
  const blob = new FsBlobStore(args.blobDir);
  const all = cpuActivities(
    { ...loadConfig({}), blob: { kind: 'fs', dir: args.blobDir }, ingest: { allowedSources: { roots: [args.blobDir], buckets: [] } } },
    { db: database.db, blob, embedder: async () => embedder },
  );
  const staged = <F extends (...a: never[]) => Promise<unknown>>(name: string, fn: F): F =>
    (async (...a: Parameters<F>) => {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      // Report each new heartbeat phase (clustering, identities, describing, recording) with its time.
      const beat = ctx.heartbeat;
      let last: unknown;
      Object.assign(ctx, {
        heartbeat: (d?: { phase?: string }) => {
          if (d?.phase && d.phase !== last) console.log(`PHASE ${name} ${(last = d.phase)} ${Date.now()} attempt=${attempt}`);
          beat(d);
        },
      });
      console.log(`STAGE ${name} start ${Date.now()} attempt=${attempt} maxrss=${maxRss()}`);
      const out = await fn(...a);
      console.log(`STAGE ${name} end ${Date.now()} attempt=${attempt} maxrss=${maxRss()}`);
      return out;
    }) as F;
  const activities = {
    ...all,
    snapshotQueries: staged('snapshotQueries', all.snapshotQueries),
    embedQueries: staged('embedQueries', all.embedQueries),
    clusterAndRecord: staged('clusterAndRecord', all.clusterAndRecord),
  };
  setInterval(() => console.log(`RSS ${maxRss()}`), 2000).unref();
  const worker = await createWorker({
    temporal: { address: args.temporalAddress, namespace: 'default', taskQueue: args.taskQueue, gpuTaskQueue: `${args.taskQueue}-gpu`, cliPath: '' },
    taskQueue: args.taskQueue,
    activities,
  });
  console.log('READY');
  await worker.run();
  await database.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
