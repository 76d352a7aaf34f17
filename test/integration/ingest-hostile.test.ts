import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { MAX_LINE_BYTES } from '../../src/ingest/lines';
import { startIngest } from '../../src/temporal/starters';
import { ensureTenant } from '../../src/tenants/store';
import { spawnCli } from '../support/cli';
import { type Stack, connectStack } from '../support/stack';
import { waitFor, workerProcess } from '../support/workers';

const tenants = { plain: 'hostile', gz: 'hostile-gz', packed: 'hostile-packed', crash: 'hostile-crash' };
let s: Stack;

beforeAll(async () => {
  s = await connectStack();
  for (const t of Object.values(tenants)) await ensureTenant(s.db, t);
});
afterAll(async () => s?.close());

async function scalar(q: ReturnType<typeof sql>): Promise<number> {
  return Number(Object.values(rowsOf<Record<string, string>>(await s.db.execute(q))[0]!)[0]);
}

const chat = (question: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: 'gpt-4o',
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: `answer: ${question}` },
    ],
    ...extra,
  });

/**
 * 1,200 real records with every kind of hostile line between them, at known line numbers. `REFUSE-ME` passes
 * validation but a check constraint (added by the test) makes Postgres refuse it: the net under the validation.
 */
function hostileFile() {
  const good = loadSharedDataset('bitext-v2')
    .slice(0, 1200)
    .map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `hostile-${i}` }));
  const bad: Array<[string, string | Buffer, RegExp]> = [
    ['NUL', chat('nul \u0000 inside'), /messages\[0\]\.content: holds U\+0000/],
    ['surrogate', chat('q', { metadata: { note: 'lone \ud800 half' } }), /metadata\.note: holds an unpaired UTF-16 surrogate/],
    ['latency', chat('q', { latency_ms: 99_999_999_999 }), /latency_ms: must be from 0 to 2147483647/],
    ['tokens', chat('q', { usage: { prompt_tokens: 1e12, completion_tokens: 5 } }), /usage\.prompt_tokens: must be from 0 to/],
    ['year', chat('q', { created_at: 253_402_300_800_000 }), /created_at: must be an ISO-8601 time with offset from the years 2000-2099/],
    ['huge', chat('big', { metadata: { pad: 'z'.repeat(20 * 1024 * 1024) } }), new RegExp(`the line limit \\(MAX_LINE_BYTES\\) is ${MAX_LINE_BYTES} bytes`)],
    ['raw NUL', Buffer.from('{"broken": "a\u0000b'), /malformed JSON/],
    ['refused', chat('please REFUSE-ME now'), /the database refused this record: .*check constraint/],
  ];
  const lines: Array<string | Buffer> = [...good];
  const blanks = ['', '   ', '\t'];
  // Spliced from the back, so earlier positions stay put. The refused line lands in the second insert sub-batch
  // (500 lines) of the first 1 MiB chunk, which ends at the 20 MB line.
  const at = [3, 250, 400, 700, 800, 950, 1100, 510];
  bad
    .map((b, i) => [at[i]!, b[1]] as const)
    .sort((x, y) => y[0] - x[0])
    .forEach(([pos, line]) => lines.splice(pos, 0, line));
  lines.splice(600, 0, ...blanks);
  lines.splice(1, 0, '');
  const body = Buffer.concat(lines.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  const expected = new Map<number, RegExp>();
  lines.forEach((l, i) => {
    const b = bad.find(([, line]) => line === l);
    if (b) expected.set(i + 1, b[2]);
  });
  return { body, good: good.length, bad: bad.length, blank: blanks.length + 1, lines: lines.length, expected };
}

describe('import of hostile lines', () => {
  it('stores exactly the valid lines of a file (and of its gzip copy) and reports every other one with its line number', async () => {
    const f = hostileFile();
    expect(f.expected.size).toBe(f.bad);
    await s.blob.put('imports/hostile/log.jsonl', f.body);
    await s.blob.put('imports/hostile-gz/log.jsonl.gz', gzipSync(f.body));
    await s.blob.put('imports/hostile-packed/log.jsonl', gzipSync(f.body)); // compressed, but named as plain JSONL
    await s.db.execute(
      sql.raw(`alter table interactions add constraint hostile_refuse check (tenant_id not like 'hostile%' or query_text not like '%REFUSE-ME%')`),
    );
    const worker = await s.startWorker();
    try {
      const run = (tenantId: string, key: string, chunkBytes: number) =>
        startIngest(s.client, s.taskQueue, { tenantId, source: `s3://${s.stack.bucket}/${key}`, chunkBytes }, s.allowedSources).then((h) => h.result());
      // 1 MiB chunks hold every good line: the refused one sits in the second insert sub-batch of a chunk.
      // The gzip copy goes by 64 KiB chunks: many decompressed-offset checkpoints, and the 20 MB line spans hundreds.
      const plain = await run(tenants.plain, 'imports/hostile/log.jsonl', 1024 * 1024);
      const gz = await run(tenants.gz, 'imports/hostile-gz/log.jsonl.gz', 64 * 1024);
      for (const [tenantId, result] of [
        [tenants.plain, plain],
        [tenants.gz, gz],
      ] as const) {
        expect(result).toMatchObject({ files: 1, lines: f.lines, stored: f.good, duplicates: 0, rejected: f.bad, blank: f.blank });
        expect(await scalar(sql`select count(*) from interactions where tenant_id = ${tenantId}`)).toBe(f.good);
        expect(await scalar(sql`select count(*) from interactions where tenant_id = ${tenantId} and idempotency_key like 'hostile-%'`)).toBe(f.good);
        const rejected = rowsOf<{ line_no: number; reason: string; excerpt: string }>(
          await s.db.execute(sql`select line_no, reason, excerpt from ingest_rejections where run_id = ${result.runId} order by line_no`),
        );
        expect(rejected.map((r) => r.line_no)).toEqual([...f.expected.keys()].sort((a, b) => a - b));
        for (const r of rejected) {
          expect(r.reason).toMatch(f.expected.get(r.line_no)!);
          expect(r.excerpt.length).toBeLessThanOrEqual(501);
          expect(r.excerpt).not.toMatch(/\u0000/);
        }
        // The report in the blob store lists the same lines.
        const report = (await s.blob.get(result.reportUri!.replace(`s3://${s.stack.bucket}/`, '')))
          .toString('utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { line: number });
        expect(report.map((r) => r.line)).toEqual(rejected.map((r) => r.line_no));
      }

      // A gzip file under a plain name: one clear rejection, no binary excerpt, nothing stored.
      const packed = await run(tenants.packed, 'imports/hostile-packed/log.jsonl', 64 * 1024);
      expect(packed).toMatchObject({ lines: 1, stored: 0, rejected: 1, blank: 0 });
      const [why] = rowsOf<{ reason: string; excerpt: string }>(
        await s.db.execute(sql`select reason, excerpt from ingest_rejections where run_id = ${packed.runId}`),
      );
      expect(why!.reason).toMatch(/gzip-compressed: name it .*log\.jsonl\.gz/);
      expect(why!.excerpt).toBe('');
    } finally {
      await worker.shutdown();
      await s.db.execute(sql.raw('alter table interactions drop constraint hostile_refuse'));
    }
  });

  it('survives pg_terminate_backend of the worker’s connections mid-import: the worker lives, the CLI waits it out and exits 0, every row is stored once', async () => {
    const crash = await connectStack(); // its own task queue: no in-process worker polls it
    const app = `hostile-worker-${crash.taskQueue}`;
    const examples = [...loadSharedDataset('banking77'), ...loadSharedDataset('hwu64')].slice(0, 12_000);
    await crash.blob.put(
      'imports/hostile-crash/log.jsonl',
      examples.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `term-${i}` })).join('\n') + '\n',
    );
    const source = `s3://${crash.stack.bucket}/imports/hostile-crash/log.jsonl`;
    // The CLI first, with no worker: it must say so rather than print the same progress line forever.
    const cli = spawnCli(['ingest', source, '--tenant', tenants.crash, '--chunk-bytes', String(24 * 1024)], crash.env);
    let worker: ReturnType<typeof workerProcess> | undefined;
    try {
      await cli.waitFor(new RegExp(`no worker is polling ${crash.taskQueue}`), 60_000);
      // Only now the worker: started together with the CLI, a fast machine had it polling before the CLI looked.
      worker = workerProcess(crash, 'cpu', path.join(crash.stack.tmpDir, 'hostile-worker'), {
        DATABASE_URL: `${crash.env.DATABASE_URL}${crash.env.DATABASE_URL.includes('?') ? '&' : '?'}application_name=${app}`,
      });
      await worker.waitFor(/worker polling/);
      const runChunks = () => scalar(sql`select count(*) from ingest_chunks where run_id like ${`ingest:${tenants.crash}:${source}@%`}`);
      let terminated = 0;
      for (const after of [20, 60, 110]) {
        await waitFor(`${after} committed chunks`, async () => ((await runChunks()) >= after ? true : undefined), 120_000);
        const killed = await scalar(sql`select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${app}) t`);
        terminated += killed;
        await new Promise((r) => setTimeout(r, 300));
        expect(worker!.exitCode).toBeNull(); // the worker process is still alive
      }
      expect(terminated).toBeGreaterThan(0);
      expect(await cli.exited).toBe(0);
      expect(cli.output()).toMatch(new RegExp(`done: 1 files, ${examples.length} lines, ${examples.length} stored, 0 duplicates, 0 rejected, 0 blank`));
      expect(cli.output()).not.toMatch(/Channel has been shut down/);
      expect(worker!.exitCode).toBeNull();
      expect(await scalar(sql`select count(*) from interactions where tenant_id = ${tenants.crash}`)).toBe(examples.length);
      expect(await scalar(sql`select count(distinct idempotency_key) from interactions where tenant_id = ${tenants.crash}`)).toBe(examples.length);
      expect(await scalar(sql`select count(*) from feedback where tenant_id = ${tenants.crash}`)).toBe(examples.length);
      // Failures in the history are short: no SQL, no record content.
      const history = await crash.client.workflow.getHandle(`ingest:${tenants.crash}:${source}`).fetchHistory();
      const failures = JSON.stringify(history).match(/"message":"[^"]*"/g) ?? [];
      for (const m of failures) expect(m.length).toBeLessThan(260);
      expect(JSON.stringify(history)).not.toMatch(/Failed query|jsonb_to_recordset/);
    } finally {
      cli.kill('SIGKILL');
      await worker?.stop();
      await crash.close();
    }
  });
});
