import type { Command } from 'commander';
import { Option } from 'commander';
import { startCpuWorker, startGpuWorker } from './root';
import { buildApi } from '../src/api/server';
import { openBlobStore } from '../src/blob';
import { runnerFactory } from '../src/distill/runners';
import { loadConfig } from '../src/config';
import { openDatabase } from '../src/db/client';
import { startLocalStack } from './stack';
import { lazyEmbedder } from '../src/embeddings/lazy';
import { connectClient } from '../src/temporal/client';
import { createWorker, installWorkerRuntime } from '../src/temporal/worker';

/** Long-running processes: migrate, api, worker, dev. */
export function registerServiceCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply the database migrations (Postgres from DATABASE_URL, or the embedded PGlite)')
    .action(async () => {
      const database = openDatabase(loadConfig().database);
      try {
        await database.migrate();
        console.log(`migrations applied (${database.kind})`);
      } finally {
        await database.close();
      }
    });

  program
    .command('api')
    .description('serve the HTTP API (ingestion, feedback, review; OpenAPI at /openapi.json, review page at /review)')
    .action(async () => {
      const config = loadConfig();
      const database = openDatabase(config.database);
      // Review decisions go through Temporal; ingestion does not, so the api still serves without it.
      const client = await connectClient(config.temporal).catch((err: Error) => {
        console.warn(`warning: ${err.message}\nserving without Temporal: review decisions answer 503 until the api is restarted with Temporal reachable`);
        return undefined;
      });
      const app = await buildApi({
        db: database.db,
        api: config.api,
        logLevel: config.logLevel,
        temporal: client && { client, taskQueue: config.temporal.taskQueue },
      });
      const url = await app.listen({ host: config.api.host, port: config.api.port });
      console.log(`api listening on ${url} (review page ${url}/review)`);
      await untilSignal();
      await app.close();
      await client?.close();
      await database.close();
    });

  program
    .command('worker')
    .description('run a Temporal worker: the CPU queue (all workflows and CPU activities) or the GPU queue (training, student inference)')
    .addOption(new Option('--queue <queue>', 'which task queue').choices(['cpu', 'gpu']).default('cpu'))
    .action(async (opts: { queue: 'cpu' | 'gpu' }) => {
      const config = loadConfig();
      installWorkerRuntime(config.logLevel);
      if (opts.queue === 'gpu') {
        const w = await startGpuWorker(config, { blob: openBlobStore(config.blob) });
        console.log(`worker polling ${config.temporal.gpuTaskQueue}`);
        await w.run();
        return;
      }
      const database = openDatabase(config.database);
      const blob = openBlobStore(config.blob);
      const w = await startCpuWorker(config, { db: database.db, blob });
      console.log(`worker polling ${config.temporal.taskQueue}`);
      // The SDK drains the worker on SIGINT/SIGTERM; run() resolves after in-flight activities finish or time out.
      await w.run();
      await database.close();
    });

  program
    .command('dev')
    .description(
      'run the whole local stack in one process on embedded defaults: Temporal dev server, PGlite (unless DATABASE_URL), blob store, workers, api; Ctrl-C stops it cleanly',
    )
    .action(async () => {
      const config = loadConfig();
      const stack = await startLocalStack(config, { temporal: 'persistent', api: true, log: (l) => console.log(l) });
      console.log(
        `\nready. try:\n  curl -s ${stack.apiUrl}/healthz\n  distillery ingest ../shared/data/… --tenant default   (in another shell, with TEMPORAL_ADDRESS=${stack.config.temporal.address})\nCtrl-C to stop.`,
      );
      await untilSignal();
      console.log('stopping…');
      await stack.stop();
      console.log('stopped');
    });
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
