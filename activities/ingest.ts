import { Context } from '@temporalio/activity';
import { and, eq, sql } from 'drizzle-orm';
import type { Config } from '../src/config';
import type { BlobStore } from '../src/blob';
import type { Db } from '../src/db/client';
import { ingestChunks, ingestRejections, runs, tenants } from '../src/db/schema';
import { InputError } from '../src/errors';
import { type Reject, commitChunk } from '../src/ingest/commit';
import { MAX_LINE_BYTES, splitLines } from '../src/ingest/lines';
import { type SourceFile, resolveSource, storeForSource } from '../src/ingest/source';
import type { IngestTotals, SpanResult } from '../src/temporal/contract';
import { failFastOnInput } from './errors';

/** Bytes read per chunk: a few thousand typical records, one transaction, well under a heartbeat interval. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Chunks one activity call imports (each its own transaction and checkpoint), and commits overlapped. */
const CHUNKS_PER_SPAN = 8;
const COMMITS_IN_FLIGHT = 2;

export interface IngestDeps {
  db: Db;
  blob: BlobStore;
  blobConfig: Config['blob'];
}

export interface SpanInput {
  runId: string;
  tenantId: string;
  source: string;
  file: SourceFile;
  offset: number;
  line: number;
  defaultModel?: string;
  /** Bytes per chunk (default DEFAULT_CHUNK_BYTES); small values make tests exercise many checkpoints. */
  chunkBytes?: number;
}

export function createIngestActivities({ db, blob, blobConfig }: IngestDeps) {
  return {
    /** Records the run and lists the source's files. Idempotent: a retried start finds its run row. */
    async startIngestRun(input: { runId: string; workflowId: string; tenantId: string; source: string }): Promise<SourceFile[]> {
      return failFastOnInput(async () => {
        const [tenant] = await db.select().from(tenants).where(eq(tenants.id, input.tenantId));
        if (!tenant) throw new InputError('tenant', `unknown tenant "${input.tenantId}": create it with \`distillery tenant create ${input.tenantId}\``);
        const { files } = await resolveSource(input.source, blobConfig);
        await db
          .insert(runs)
          .values({ id: input.runId, kind: 'ingest', tenantId: input.tenantId, workflowId: input.workflowId, status: 'running', params: { source: input.source, files: files.length } })
          .onConflictDoNothing();
        return files;
      });
    },

    /**
     * Imports a span of consecutive chunks of one file, starting at `offset`: up to CHUNKS_PER_SPAN chunks or the end
     * of the file. Each chunk's rows, rejections and checkpoint commit in one transaction of their own, so a retry
     * skips committed chunks (their recorded counts are reused) and redoes the rest. A chunk's line count is known as
     * soon as it is split, so the next chunk is read and validated while the previous one commits, on a second
     * connection: Node and Postgres work at the same time.
     */
    async importSpan(input: SpanInput): Promise<SpanResult> {
      const ctx = Context.current();
      const { store } = storeForSource(input.source, blobConfig);
      const chunkBytes = input.chunkBytes ?? DEFAULT_CHUNK_BYTES;
      const total: SpanResult = { nextOffset: input.offset, nextLine: input.line, eof: false, lines: 0, stored: 0, duplicates: 0, rejected: 0 };
      const add = (c: { lines: number; stored: number; duplicates: number; rejected: number }) => {
        total.lines += c.lines;
        total.stored += c.stored;
        total.duplicates += c.duplicates;
        total.rejected += c.rejected;
      };
      const inFlight: Array<Promise<unknown>> = [];
      try {
        for (let n = 0; n < CHUNKS_PER_SPAN && total.nextOffset < input.file.size; n++) {
          ctx.heartbeat({ offset: total.nextOffset });
          const [done] = await db
            .select()
            .from(ingestChunks)
            .where(and(eq(ingestChunks.runId, input.runId), eq(ingestChunks.sourceUri, input.file.uri), eq(ingestChunks.startOffset, total.nextOffset)));
          if (done) {
            add(done);
            total.nextOffset = done.endOffset;
            total.nextLine = done.startLine + done.lines;
            continue;
          }
          const read = await readWholeLines(store, input.file, total.nextOffset, total.nextLine, chunkBytes);
          if (inFlight.length >= COMMITS_IN_FLIGHT) await inFlight.shift();
          const lines = read.lineCount;
          const commit = commitChunk(db, { runId: input.runId, tenantId: input.tenantId, fileUri: input.file.uri, offset: total.nextOffset, line: total.nextLine, defaultModel: input.defaultModel, ...read }).then((c) => add({ lines, ...c }));
          commit.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
          inFlight.push(commit);
          total.nextOffset += read.consumed;
          total.nextLine += read.lineCount;
        }
      } finally {
        // Every started commit finishes (or fails) before the activity answers; the first failure is the answer.
        const settled = await Promise.allSettled(inFlight);
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw (failed as PromiseRejectedResult).reason;
      }
      total.eof = total.nextOffset >= input.file.size;
      return total;
    },

    /** Writes the rejected-lines report to the blob store and closes the run record. Idempotent. */
    async finishIngestRun(input: { runId: string; tenantId: string; totals: IngestTotals }): Promise<{ reportUri: string | null }> {
      const rejected = await db
        .select()
        .from(ingestRejections)
        .where(eq(ingestRejections.runId, input.runId))
        .orderBy(ingestRejections.sourceUri, ingestRejections.lineNo);
      let reportUri: string | null = null;
      if (rejected.length) {
        // runId is `<workflow id>@<first run id>`; the run id (a UUID) names the report, the tenant groups them.
        const key = `reports/ingest/${input.tenantId}/${input.runId.split('@').pop()}.rejected.jsonl`;
        await blob.put(key, rejected.map((r) => JSON.stringify({ source: r.sourceUri, line: r.lineNo, reason: r.reason, excerpt: r.excerpt })).join('\n') + '\n', { contentType: 'application/x-ndjson' });
        reportUri = blob.uri(key);
      }
      await db
        .update(runs)
        .set({ status: 'completed', stats: { ...input.totals, reportUri }, finishedAt: sql`now()` })
        .where(eq(runs.id, input.runId));
      return { reportUri };
    },
  };
}

/**
 * Reads whole lines starting at `offset`. A line longer than a chunk cannot be a valid record (MAX_LINE_BYTES is
 * smaller): it is skipped to its end and rejected, so the import moves on instead of stalling on it.
 */
async function readWholeLines(store: BlobStore, file: SourceFile, offset: number, line: number, chunkBytes: number) {
  const buf = await store.getRange(file.key, offset, offset + chunkBytes);
  const atEof = offset + buf.length >= file.size;
  const { lines, consumed } = splitLines(buf, line, atEof);
  if (consumed > 0 || buf.length === 0) return { lines, consumed, lineCount: lines.length, rejects: [] as Reject[] };
  let end = offset + buf.length;
  for (;;) {
    const next = await store.getRange(file.key, end, end + chunkBytes);
    const nl = next.indexOf(0x0a);
    if (nl !== -1 || next.length === 0) {
      end += nl === -1 ? next.length : nl + 1;
      break;
    }
    end += next.length;
    Context.current().heartbeat({ offset, skipping: end });
  }
  return {
    lines: [],
    consumed: end - offset,
    lineCount: 1,
    rejects: [{ lineNo: line, reason: `line is longer than ${Math.min(chunkBytes, MAX_LINE_BYTES)} bytes (the chunk size)`, excerpt: buf.subarray(0, 200).toString('utf8') }],
  };
}
