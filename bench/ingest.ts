/**
 * Bulk import benchmark (issue 2): rows/s from a JSONL file into Postgres through the real ingest workflow
 * (Temporal dev server + worker, checkpointed chunks), against raw COPY of the same rows in the same run.
 *
 *   npx tsx bench/ingest.ts [--rows 200000] [--chunk-mib 8] [--reps 3]
 *
 * Each attempt of each path gets its own fresh database with the same schema and indexes. The two paths alternate
 * for --reps rounds (the machine is shared and 2 cores: single runs swing by 20%), and the medians are compared.
 * The COPY path is given rows already normalised (its parse/validate time is not counted): it is the floor.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { from as copyFrom } from 'pg-copy-streams';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { cpuActivities } from '../app/root';
import { loadConfig } from '../src/config';
import { lazyEmbedder } from '../src/embeddings/lazy';
import { FsBlobStore } from '../src/blob';
import { loadSharedDataset, toLogRecord } from '../src/datasets/shared';
import { freePort, startTemporalDevServer, venvBin } from '../src/dev/processes';
import { normalizeRecord } from '../src/interactions/record';
import { connectClient } from '../src/temporal/client';
import { createWorker } from '../src/temporal/worker';
import { ensureTenant } from '../src/tenants/store';
import { createTestDatabase } from '../test/support/postgres';
import { startIngest } from '../src/temporal/starters';

const { values: args } = parseArgs({
  options: { rows: { type: 'string', default: '200000' }, 'chunk-mib': { type: 'string', default: '8' }, reps: { type: 'string', default: '3' } },
});
const REPS = Number(args.reps);
const ROWS = Number(args.rows);
const CHUNK = Number(args['chunk-mib']) * 1024 * 1024;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bench-ingest-'));
const file = path.join(tmp, 'log.jsonl');
const tenant = 'bench';

function* records() {
  const pool = [...loadSharedDataset('bitext-v2'), ...loadSharedDataset('banking77'), ...loadSharedDataset('hwu64')];
  for (let i = 0; i < ROWS; i++) {
    const { feedback: _, ...rec } = toLogRecord(pool[i % pool.length]!, i);
    yield { ...rec, idempotency_key: `bench-${i}`, metadata: { feature: i % 2 ? 'support' : 'faq' } };
  }
}

const csv = (v: unknown) => (v === null || v === undefined ? '' : `"${(typeof v === 'string' ? v : JSON.stringify(v)).replace(/"/g, '""')}"`);

async function main() {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  console.log(`bench/ingest: ${ROWS} rows, chunk ${CHUNK / 2 ** 20} MiB, ${os.cpus().length} cores, node ${process.version}`);
  await pipeline(
    Readable.from(
      (function* () {
        for (const r of records()) yield JSON.stringify(r) + '\n';
      })(),
    ),
    createWriteStream(file),
  );
  console.log(`  JSONL file: ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`);

  const temporal = await startTemporalDevServer({ cliPath: venvBin('temporal'), port: await freePort(), logFile: path.join(tmp, 'temporal.log') });
  const temporalConfig = { address: temporal.address, namespace: 'default', taskQueue: 'bench-ingest', gpuTaskQueue: 'bench-gpu', cliPath: '' };
  const copyLines: string[] = [];
  for (const r of records()) {
    const n = normalizeRecord(r);
    copyLines.push(
      [
        tenant,
        n.idempotencyKey,
        n.contentHash,
        'import:bench',
        n.occurredAt,
        n.teacherModel,
        n.messages,
        n.requestParams,
        n.response,
        n.queryText,
        n.answerText,
        n.promptTokens,
        n.completionTokens,
        n.costUsd,
        n.latencyMs,
        n.metadata,
      ]
        .map(csv)
        .join(',') + '\n',
    );
  }
  const copyRates: number[] = [];
  const ingestRates: number[] = [];
  try {
    for (let rep = 1; rep <= REPS; rep++) {
      // COPY: the same rows, normalised beforehand, streamed as CSV into an identical table.
      const copyDb = await createTestDatabase('benchcopy');
      try {
        await ensureTenant(copyDb.database.db, tenant);
        await copyDb.database.pool!.query('checkpoint');
        const client = await copyDb.database.pool!.connect();
        const t0 = performance.now();
        try {
          await pipeline(
            Readable.from(copyLines),
            client.query(
              copyFrom(
                `copy interactions (tenant_id, idempotency_key, content_hash, source, occurred_at, teacher_model, messages, request_params, response, query_text, answer_text, prompt_tokens, completion_tokens, cost_usd, latency_ms, metadata) from stdin with (format csv)`,
              ),
            ),
          );
        } finally {
          client.release();
        }
        const sec = (performance.now() - t0) / 1000;
        copyRates.push(ROWS / sec);
        console.log(`  [${rep}] COPY:   ${sec.toFixed(2)} s  ${Math.round(ROWS / sec).toLocaleString('en')} rows/s`);
      } finally {
        await copyDb.drop();
      }

      // The real import: ingest workflow on the Temporal dev server, worker in this process.
      const ingestDb = await createTestDatabase('benchingest');
      try {
        await ensureTenant(ingestDb.database.db, tenant);
        await ingestDb.database.pool!.query('checkpoint');
        const blob = new FsBlobStore(tmp);
        const worker = await createWorker({
          temporal: temporalConfig,
          taskQueue: 'bench-ingest',
          activities: cpuActivities(
            { ...loadConfig({}), blob: { kind: 'fs', dir: tmp }, ingest: { allowedSources: { roots: [tmp], buckets: [] } } },
            { db: ingestDb.database.db, blob },
          ),
        });
        void worker.run();
        const tc = await connectClient(temporalConfig);
        const t1 = performance.now();
        const cpu0 = process.cpuUsage();
        const result = await (
          await startIngest(tc, 'bench-ingest', { tenantId: tenant, source: file, chunkBytes: CHUNK }, { roots: [tmp], buckets: [] })
        ).result();
        const sec = (performance.now() - t1) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const nodeCores = (cpu.user + cpu.system) / 1e6 / sec;
        await tc.close();
        await worker.shutdown();
        if (result.stored !== ROWS) throw new Error(`stored ${result.stored} of ${ROWS}`);
        ingestRates.push(result.stored / sec);
        console.log(
          `  [${rep}] ingest: ${sec.toFixed(2)} s  ${Math.round(result.stored / sec).toLocaleString('en')} rows/s  (stored ${result.stored}, rejected ${result.rejected}; workflow incl. read, parse, validate, checkpoints; worker process ${nodeCores.toFixed(2)} cores busy)`,
        );
      } finally {
        await ingestDb.drop();
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const [ingestRate, copyRate] = [median(ingestRates), median(copyRates)];
    console.log(
      `\nRESULT bulk import ${ROWS} rows (median of ${REPS}): ingest ${Math.round(ingestRate)} rows/s, COPY ${Math.round(copyRate)} rows/s, ratio ${(ingestRate / copyRate).toFixed(2)}x of COPY (goal >= 0.5x)`,
    );
  } finally {
    await temporal.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
