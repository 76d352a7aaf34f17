import type { Command } from 'commander';
import { desc, eq } from 'drizzle-orm';
import { loadConfig } from '../config';
import { openDatabase } from '../db/client';
import { runs } from '../db/schema';
import { InputError } from '../errors';
import { connectClient } from '../temporal/client';
import { ingestProgressQuery } from '../temporal/contract';
import { startIngest } from '../temporal/starters';

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
        const handle = await startIngest(client, config.temporal.taskQueue, { tenantId: opts.tenant, source: resolved, defaultModel: opts.defaultModel, chunkBytes: opts.chunkBytes });
        console.log(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        const timer = setInterval(async () => {
          const p = await handle.query(ingestProgressQuery).catch(() => undefined);
          if (p) console.log(`  file ${Math.min(p.fileIndex + 1, p.files.length)}/${p.files.length}: ${p.totals.lines} lines, ${p.totals.stored} stored, ${p.totals.duplicates} duplicates, ${p.totals.rejected} rejected`);
        }, 2000);
        try {
          const r = await handle.result();
          console.log(`done: ${r.files} files, ${r.lines} lines, ${r.stored} stored, ${r.duplicates} duplicates, ${r.rejected} rejected${r.reportUri ? `\nrejected lines: ${r.reportUri}` : ''}`);
        } finally {
          clearInterval(timer);
        }
      } finally {
        await client.close();
      }
    });

  program
    .command('runs')
    .description('list recent pipeline runs (ingest, …) with their figures')
    .option('--kind <kind>', 'only runs of this kind')
    .option('--limit <n>', 'how many', (v) => positiveInt(v, '--limit'), 20)
    .action(async (opts: { kind?: string; limit: number }) => {
      const database = openDatabase(loadConfig().database);
      try {
        const rows = await database.db.select().from(runs).where(opts.kind ? eq(runs.kind, opts.kind) : undefined).orderBy(desc(runs.startedAt)).limit(opts.limit);
        for (const r of rows) console.log(`${r.startedAt.toISOString()}  ${r.kind.padEnd(8)} ${r.status.padEnd(9)} ${r.tenantId ?? '-'}  ${JSON.stringify(r.stats)}  ${r.id}`);
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
