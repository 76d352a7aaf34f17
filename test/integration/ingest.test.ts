import { randomUUID } from 'node:crypto';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../../src/db/client';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { startIngest } from '../../src/temporal/starters';
import { ensureTenant } from '../../src/tenants/store';
import { useStackWithWorker } from '../support/stack';

const tenant = 'ingest-it';
const stack = useStackWithWorker(tenant);

/**
 * 1,200 real queries/answers from bitext v2 in two files and two record shapes, plus bad lines of every kind.
 * Returns the JSONL files and the exact number of good and bad lines.
 */
function buildFiles() {
  const examples = loadSharedDataset('bitext-v2').slice(0, 1200);
  const good = examples.map((ex, i) =>
    i % 3 === 0
      ? // chat-log shape, no model (the import's default model applies), no response id (key = file + line)
        JSON.stringify({
          messages: [
            { role: 'user', content: ex.query },
            { role: 'assistant', content: ex.answer },
          ],
          created_at: '2026-10-02T10:00:00Z',
        })
      : JSON.stringify(toLogRecord(ex, i)),
  );
  const bad: Array<string | Buffer> = [
    '{"request": {"model": "gpt-4o", "messages": [', // malformed JSON
    JSON.stringify({ request: { model: 'gpt-4o' }, response: { choices: [{ message: { content: 'x' } }] } }), // missing messages
    JSON.stringify({ request: { model: 'gpt-4o', messages: [{ role: 'user', content: 42 }] }, response: { choices: [{ message: { content: 'x' } }] } }), // wrong type
    JSON.stringify({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'user', content: 'no answer' },
      ],
      model: 'gpt-4o',
    }), // last not assistant
    Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"caf'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]), // invalid UTF-8
    JSON.stringify({ ...toLogRecord(examples[5]!, 5), response: { ...toLogRecord(examples[6]!, 6).response, id: 'chatcmpl-shared-5' } }), // key reused, other content
    '[1,2,3]', // not an object
  ];
  const lines1: Array<string | Buffer> = [...good.slice(0, 600)];
  lines1.splice(100, 0, bad[0]!, bad[1]!, bad[2]!);
  lines1.splice(300, 0, '', '   '); // blank lines are skipped, not rejected
  const lines2: Array<string | Buffer> = [...good.slice(600)];
  lines2.splice(50, 0, bad[3]!, bad[4]!, bad[5]!, bad[6]!);
  const join = (ls: Array<string | Buffer>) => Buffer.concat(ls.flatMap((l) => [Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')]));
  return { files: [join(lines1), join(lines2)], good: good.length, bad: bad.length };
}

async function count(table: 'interactions' | 'feedback', tenantId = tenant): Promise<number> {
  return Number(rowsOf<{ n: string }>(await stack().db.execute(sql`select count(*) as n from ${sql.identifier(table)} where tenant_id = ${tenantId}`))[0]!.n);
}

describe('ingest workflow', () => {
  it('imports JSONL from S3 with exact stored/rejected counts, and a re-run stores nothing twice', async () => {
    const { files, good, bad } = buildFiles();
    await stack().blob.put('imports/ingest-it/part-1.jsonl', files[0]!);
    await stack().blob.put('imports/ingest-it/part-2.jsonl', files[1]!);
    const source = `s3://${stack().stack.bucket}/imports/ingest-it/`;
    // Small chunks so the import crosses many checkpoints (and lines straddle chunk boundaries).
    const first = await (
      await startIngest(
        stack().client,
        stack().taskQueue,
        { tenantId: tenant, source, defaultModel: 'gpt-4o-mini', chunkBytes: 64 * 1024 },
        stack().allowedSources,
      )
    ).result();

    expect(first).toMatchObject({ files: 2, stored: good, duplicates: 0, rejected: bad });
    expect(await count('interactions')).toBe(good);
    expect(await count('feedback')).toBe(good - Math.ceil(good / 3)); // chat-log lines carry no feedback
    const rejected = rowsOf<{ line_no: number; reason: string }>(
      await stack().db.execute(sql`select line_no, reason from ingest_rejections where run_id = ${first.runId} order by source_uri, line_no`),
    );
    expect(rejected).toHaveLength(bad);
    expect(rejected.map((r) => r.reason).join('\n')).toMatch(/malformed JSON/);
    expect(rejected.map((r) => r.reason).join('\n')).toMatch(/request\.messages: required/);
    expect(rejected.map((r) => r.reason).join('\n')).toMatch(/not valid UTF-8/);
    expect(rejected.map((r) => r.reason).join('\n')).toMatch(/idempotency_key: "response:chatcmpl-shared-5" was already stored with different content/);
    expect(rejected[0]!.line_no).toBe(101); // line numbers are 1-based file lines
    // The report lists every rejected line with its reason.
    const reportKey = first.reportUri!.replace(`s3://${stack().stack.bucket}/`, '');
    const report = (await stack().blob.get(reportKey))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(report).toHaveLength(bad);

    const chatLog = rowsOf<{ teacher_model: string; idempotency_key: string }>(
      await stack().db.execute(
        sql`select teacher_model, idempotency_key from interactions where tenant_id = ${tenant} and idempotency_key like 'line:%' limit 1`,
      ),
    );
    expect(chatLog[0]!.teacher_model).toBe('gpt-4o-mini');

    const second = await (
      await startIngest(
        stack().client,
        stack().taskQueue,
        { tenantId: tenant, source, defaultModel: 'gpt-4o-mini', chunkBytes: 64 * 1024 },
        stack().allowedSources,
      )
    ).result();
    expect(second).toMatchObject({ files: 2, stored: 0, duplicates: good, rejected: bad });
    expect(second.runId).not.toBe(first.runId);
    expect(await count('interactions')).toBe(good);
    expect(await count('feedback')).toBe(good - Math.ceil(good / 3));
  });

  it('imports a local file and refuses an unknown tenant with a clear error', async () => {
    const lines = loadSharedDataset('banking77')
      .slice(0, 50)
      .map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `local-${i}` }))
      .join('\n');
    const file = path.join(stack().importsDir('ingest-local'), 'log.jsonl');
    writeFileSync(file, lines);
    await ensureTenant(stack().db, 'ingest-local');
    const res = await (await startIngest(stack().client, stack().taskQueue, { tenantId: 'ingest-local', source: file }, stack().allowedSources)).result();
    expect(res).toMatchObject({ files: 1, stored: 50, rejected: 0 });
    expect(await count('interactions', 'ingest-local')).toBe(50);

    const nobodys = path.join(stack().importsDir('nobody'), 'log.jsonl');
    writeFileSync(nobodys, lines);
    const failing = await startIngest(stack().client, stack().taskQueue, { tenantId: 'nobody', source: nobodys }, stack().allowedSources);
    await expect(failing.result()).rejects.toMatchObject({
      cause: { cause: { message: expect.stringMatching(/unknown tenant "nobody".*distillery tenant create nobody/) } },
    });
  });

  it('refuses sources outside the allowed roots and buckets, where the import starts and in the worker', async () => {
    await ensureTenant(stack().db, 'ingest-guard');
    await ensureTenant(stack().db, 'ingest-other');
    const mine = stack().importsDir('ingest-guard');
    const outside = mkdtempSync(path.join(os.tmpdir(), 'ingest-outside-'));
    writeFileSync(path.join(outside, 'secret.jsonl'), JSON.stringify(toLogRecord(loadSharedDataset('banking77')[0]!, 0)) + '\n');
    symlinkSync(path.join(outside, 'secret.jsonl'), path.join(mine, 'link.jsonl'));
    await stack().blob.put('imports/ingest-other/theirs.jsonl', JSON.stringify(toLogRecord(loadSharedDataset('banking77')[1]!, 1)) + '\n');
    await stack().blob.put('datasets/ingest-other/train.jsonl', JSON.stringify(toLogRecord(loadSharedDataset('banking77')[2]!, 2)) + '\n');
    const bucket = stack().stack.bucket;
    const refused: Array<[string, RegExp]> = [
      ['/etc/passwd', /\/etc\/passwd is not an allowed import source.*INGEST_ALLOWED_ROOTS/],
      [`${mine}/../ingest-other/`, /ingest-other is not an allowed import source.*INGEST_ALLOWED_ROOTS/],
      [path.join(mine, 'link.jsonl'), /\(really .*secret\.jsonl\) is not an allowed import source/],
      [`s3://${bucket}/imports/ingest-other/theirs.jsonl`, /is not an allowed import source.*INGEST_ALLOWED_BUCKETS/],
      [`s3://${bucket}/datasets/ingest-other/`, /INGEST_ALLOWED_BUCKETS/],
      [`s3://${bucket}/imports/ingest-guard/../ingest-other/theirs.jsonl`, /"\.\."/],
      [`s3://another-bucket/imports/ingest-guard/`, /INGEST_ALLOWED_BUCKETS/],
    ];
    for (const [source, message] of refused) {
      // Fast feedback where the import starts...
      await expect(startIngest(stack().client, stack().taskQueue, { tenantId: 'ingest-guard', source }, stack().allowedSources), source).rejects.toMatchObject({
        field: 'source',
        message,
      });
      // ...and the real guard in the worker, for a workflow started without that check.
      const handle = await stack().client.workflow.start('ingestWorkflow', {
        taskQueue: stack().taskQueue,
        workflowId: `ingest-guard-${randomUUID()}`,
        args: [{ tenantId: 'ingest-guard', source }],
      });
      await expect(handle.result(), source).rejects.toMatchObject({ cause: { cause: { message } } });
    }
    expect(await count('interactions', 'ingest-guard')).toBe(0);
  });
});
