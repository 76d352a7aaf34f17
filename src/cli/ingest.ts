import { type Command, Option } from 'commander';
import { loadConfig } from '../config';
import { openDatabase } from '../db/client';
import { InputError } from '../errors';
import { listRuns } from '../runs/store';
import { RUN_KINDS, type RunKind } from '../vocabulary';
import { connectClient } from '../temporal/client';
import { type IngestInput, type IngestResult, ingestProgressQuery } from '../temporal/contract';
import { startIngest } from '../temporal/starters';
import type { WorkflowHandle } from '@temporalio/client';
import type { TemporalClient } from './common';
import { waitFacts, waitNotes } from './wait-status';

/** Seconds between progress lines, and the most one round of status calls may take. */
const PROGRESS_EVERY_MS = 2000;
const STATUS_TIMEOUT_MS = 5000;

/**
 * Prints the import's progress (a query: needs a worker), and why it does not move: "retrying: <reason>" while an
 * activity retries, "no worker is polling <queue>" when none is. Every call is bound to `stop` and a timeout, so
 * none is left in flight when the caller closes the client.
 */
async function pollProgress(
  client: TemporalClient,
  handle: WorkflowHandle<(input: IngestInput) => Promise<IngestResult>>,
  taskQueue: string,
  stop: AbortSignal,
): Promise<void> {
  while (!stop.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, PROGRESS_EVERY_MS);
      stop.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
    if (stop.aborted) return;
    const signal = AbortSignal.any([stop, AbortSignal.timeout(STATUS_TIMEOUT_MS)]);
    try {
      const facts = await client.withAbortSignal(signal, () => waitFacts(client, handle, taskQueue));
      const notes = waitNotes(facts);
      const noWorker = notes.some((n) => n.startsWith('no worker'));
      const p = noWorker ? undefined : await client.withAbortSignal(signal, () => handle.query(ingestProgressQuery)).catch(() => undefined);
      if (stop.aborted) return;
      if (p)
        console.log(
          `  file ${Math.min(p.fileIndex + 1, p.files.length)}/${p.files.length}: ${p.totals.lines} lines, ${p.totals.stored} stored, ${p.totals.duplicates} duplicates, ${p.totals.rejected} rejected, ${p.totals.blank ?? 0} blank`,
        );
      for (const n of notes) console.log(`  ${n}`);
    } catch (err) {
      if (!stop.aborted) console.log(`  (no status: ${(err as Error).message.split('\n', 1)[0]})`);
    }
  }
}

export function registerIngestCommands(program: Command): void {
  program
    .command('ingest <source>')
    .description('import JSONL interaction logs (OpenAI chat format) from s3://bucket/prefix or a local file/folder through the ingest workflow')
    .requiredOption('--tenant <id>', 'tenant the interactions belong to')
    .option('--default-model <model>', 'teacher model for lines that do not name one')
    .option('--chunk-bytes <n>', 'bytes per checkpointed chunk (default 8 MiB)', (v) => positiveInt(v, '--chunk-bytes'))
    .option('--no-wait', 'start the workflow and return')
    .action(async (source: string, opts: { tenant: string; defaultModel?: string; chunkBytes?: number; wait: boolean }) => {
      const config = loadConfig();
      const client = await connectClient(config.temporal);
      try {
        // Local paths are resolved here: the worker may run in another directory.
        const resolved = source.startsWith('s3://') ? source : (await import('node:path')).resolve(source);
        const handle = await startIngest(
          client,
          config.temporal.taskQueue,
          { tenantId: opts.tenant, source: resolved, defaultModel: opts.defaultModel, chunkBytes: opts.chunkBytes },
          config.ingest.allowedSources,
        );
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        // Progress every 2 s until the result is in. The poller is stopped and awaited before the client closes:
        // a call still in flight (or waiting in the gRPC retry timer) at close() throws "Channel has been shut
        // down" from a timer, which fails the command after a finished import.
        const stop = new AbortController();
        const poller = pollProgress(client, handle, config.temporal.taskQueue, stop.signal);
        let r: IngestResult;
        try {
          r = await handle.result();
        } finally {
          stop.abort();
          await poller;
        }
        console.log(
          `done: ${r.files} files, ${r.lines} lines, ${r.stored} stored, ${r.duplicates} duplicates, ${r.rejected} rejected, ${r.blank ?? 0} blank${r.reportUri ? `\nrejected lines: ${r.reportUri}` : ''}`,
        );
      } finally {
        await client.close();
      }
    });

  program
    .command('runs')
    .description('list recent pipeline runs (ingest, …) with their figures')
    .addOption(new Option('--kind <kind>', 'only runs of this kind').choices(RUN_KINDS))
    .option('--limit <n>', 'how many', (v) => positiveInt(v, '--limit'), 20)
    .action(async (opts: { kind?: RunKind; limit: number }) => {
      const database = openDatabase(loadConfig().database);
      try {
        const rows = await listRuns(database.db, opts);
        for (const r of rows)
          console.log(`${r.startedAt.toISOString()}  ${r.kind.padEnd(8)} ${r.status.padEnd(9)} ${r.tenantId ?? '-'}  ${JSON.stringify(r.stats)}  ${r.id}`);
        if (!rows.length) console.log('no runs yet');
      } finally {
        await database.close();
      }
    });
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InputError(flag, `must be a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}
