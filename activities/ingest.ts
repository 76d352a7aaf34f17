import { Context } from '@temporalio/activity';
import type { Config } from '../src/config';
import type { BlobStore } from '../src/blob';
import type { Db } from '../src/db/client';
import { ForbiddenError, InputError } from '../src/errors';
import { commitChunk } from '../src/ingest/commit';
import { isGzip, openReader, readChunk } from '../src/ingest/reader';
import type { AllowedSources } from '../src/ingest/allowed';
import type { SourceFile } from '../src/ingest/source-file';
import { isAllowed, resolveSource, storeForSource } from '../src/ingest/source';
import { findChunk, runRejections } from '../src/ingest/store';
import { finishRun, startRun } from '../src/runs/store';
import type { IngestTotals, SpanResult } from '../src/temporal/contract';
import { findTenant } from '../src/tenants/store';
import { withShortFailures } from './errors';

/** Bytes read per chunk: a few thousand typical records, one transaction, well under a heartbeat interval. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Chunks one activity call imports (each its own transaction and checkpoint), and commits overlapped. */
const CHUNKS_PER_SPAN = 8;
/**
 * A .gz file is decompressed from its start by every span (gzip cannot seek), so its spans are longer: 64 chunks of
 * 8 MiB (512 MiB decompressed) keep the re-reading to a small share of the work for files of a few GiB.
 */
const GZIP_CHUNKS_PER_SPAN = 64;
const COMMITS_IN_FLIGHT = 2;

export interface IngestDeps {
  db: Db;
  blob: BlobStore;
  blobConfig: Config['blob'];
  /** Where imports may read (config.ingest): the real guard, since the worker is what can read files and buckets. */
  allowedSources: AllowedSources;
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

export function createIngestActivities({ db, blob, blobConfig, allowedSources }: IngestDeps) {
  return {
    /** Records the run and lists the source's files. Idempotent: a retried start finds its run row. */
    async startIngestRun(input: { runId: string; workflowId: string; tenantId: string; source: string }): Promise<SourceFile[]> {
      return withShortFailures(async () => {
        const tenant = await findTenant(db, input.tenantId);
        if (!tenant) throw new InputError('tenant', `unknown tenant "${input.tenantId}": create it with \`distillery tenant create ${input.tenantId}\``);
        const { files } = await resolveSource(input.source, blobConfig, { tenantId: input.tenantId, allowed: allowedSources });
        await startRun(db, {
          id: input.runId,
          kind: 'ingest',
          tenantId: input.tenantId,
          workflowId: input.workflowId,
          params: { source: input.source, files: files.length },
        });
        return files;
      });
    },

    /** Imports a span of chunks of one file (see importSpan below). */
    async importSpan(input: SpanInput): Promise<SpanResult> {
      return withShortFailures(() => importSpan(input));
    },

    /** Writes the rejected-lines report and closes the run record (see finishRun below). */
    async finishIngestRun(input: { runId: string; tenantId: string; totals: IngestTotals }): Promise<{ reportUri: string | null }> {
      return withShortFailures(() => finishIngest(input));
    },
  };

  /** Writes the rejected-lines report to the blob store and closes the run record. Idempotent. */
  async function finishIngest(input: { runId: string; tenantId: string; totals: IngestTotals }): Promise<{ reportUri: string | null }> {
    const rejected = await runRejections(db, input.runId);
    let reportUri: string | null = null;
    if (rejected.length) {
      // runId is `<workflow id>@<first run id>`; the run id (a UUID) names the report, the tenant groups them.
      const key = `reports/ingest/${input.tenantId}/${input.runId.split('@').pop()}.rejected.jsonl`;
      await blob.put(
        key,
        rejected.map((r) => JSON.stringify({ source: r.sourceUri, line: r.lineNo, reason: r.reason, excerpt: r.excerpt })).join('\n') + '\n',
        { contentType: 'application/x-ndjson' },
      );
      reportUri = blob.uri(key);
    }
    await finishRun(db, input.runId, 'ingest', { ...input.totals, reportUri });
    return { reportUri };
  }

  /**
   * Imports a span of consecutive chunks of one file, starting at `offset`: up to CHUNKS_PER_SPAN chunks (a .gz file:
   * GZIP_CHUNKS_PER_SPAN) or the end of the file. Each chunk's rows, rejections and checkpoint commit in one transaction of their own, so a retry
   * skips committed chunks (their recorded counts are reused) and redoes the rest. A chunk's line count is known as
   * soon as it is split, so the next chunk is read and validated while the previous one commits, on a second
   * connection: Node and Postgres work at the same time.
   */
  async function importSpan(input: SpanInput): Promise<SpanResult> {
    const ctx = Context.current();
    const scope = { tenantId: input.tenantId, allowed: allowedSources };
    // A source outside the allowed ones never becomes allowed by retrying. The file comes from workflow history:
    // check the one actually read, not only the source it was listed under.
    const { store } = storeForSource(input.source, blobConfig, scope);
    if (!isAllowed(store.uri(input.file.key), scope)) throw new ForbiddenError('source', `${store.uri(input.file.key)} is not under an allowed import source`);
    const chunkBytes = input.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    const maxChunks = isGzip(input.file) ? GZIP_CHUNKS_PER_SPAN : CHUNKS_PER_SPAN;
    const total: SpanResult = { nextOffset: input.offset, nextLine: input.line, eof: false, lines: 0, stored: 0, duplicates: 0, rejected: 0, blank: 0 };
    const add = (c: { lines: number; stored: number; duplicates: number; rejected: number; blank: number }) => {
      total.lines += c.lines;
      total.stored += c.stored;
      total.duplicates += c.duplicates;
      total.rejected += c.rejected;
      total.blank += c.blank;
    };
    const reader = openReader(store, input.file, () => ctx.heartbeat({ offset: total.nextOffset }));
    const inFlight: Array<Promise<unknown>> = [];
    try {
      for (let n = 0; n < maxChunks && !total.eof; n++) {
        ctx.heartbeat({ offset: total.nextOffset });
        const done = await findChunk(db, input.runId, input.file.uri, total.nextOffset);
        if (done) {
          // Blank lines are the ones neither stored, duplicate nor rejected: the checkpoint needs no column for them.
          add({ ...done, blank: done.lines - done.stored - done.duplicates - done.rejected });
          total.nextOffset = done.endOffset;
          total.nextLine = done.startLine + done.lines;
          // The size says where a plain file ends; a .gz file's end shows when a read gets there.
          if (!isGzip(input.file) && total.nextOffset >= input.file.size) total.eof = true;
          continue;
        }
        const read = await readChunk(reader, input.file, total.nextOffset, total.nextLine, chunkBytes, () => ctx.heartbeat({ offset: total.nextOffset }));
        if (read.consumed === 0 && read.lineCount === 0) {
          total.eof = true; // nothing left (a .gz file whose last chunk was committed by an earlier attempt)
          break;
        }
        if (inFlight.length >= COMMITS_IN_FLIGHT) await inFlight.shift();
        const lines = read.lineCount;
        const commit = commitChunk(db, {
          runId: input.runId,
          tenantId: input.tenantId,
          fileUri: input.file.uri,
          offset: total.nextOffset,
          line: total.nextLine,
          defaultModel: input.defaultModel,
          ...read,
        }).then((c) => add({ lines, ...c }));
        commit.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
        inFlight.push(commit);
        total.nextOffset += read.consumed;
        total.nextLine += read.lineCount;
        total.eof = read.eof;
      }
    } finally {
      reader.close();
      // Every started commit finishes (or fails) before the activity answers; the first failure is the answer.
      const settled = await Promise.allSettled(inFlight);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    return total;
  }
}
