import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { pgErrorOf, shortReason } from '../db/errors';
import { type InteractionRow, sanitizeText } from '../interactions/record';
import { type StoreResult, insertInteractions } from '../interactions/store';
import { type ParsedLines, type RawLine, parseLines } from './lines';
import { saveChunk, saveRejections } from './store';

export interface Reject {
  lineNo: number;
  reason: string;
  excerpt: string;
}

export interface ChunkToCommit {
  runId: string;
  tenantId: string;
  fileUri: string;
  offset: number;
  line: number;
  /** Complete lines of the chunk, the bytes they span, and the number of file lines they count for. */
  lines: RawLine[];
  consumed: number;
  lineCount: number;
  /** Lines already rejected while reading (over-long lines). */
  rejects: Reject[];
  defaultModel?: string;
}

export interface ChunkCounts {
  endOffset: number;
  stored: number;
  duplicates: number;
  rejected: number;
  blank: number;
}

/** Lines per insert statement inside a chunk, and per synchronous validation step. */
const SUB_BATCH = 500;
const PARSE_SLICE = 100;

/**
 * Validates and stores one chunk of JSONL lines in ONE transaction together with its rejections and its checkpoint
 * row, so a chunk is either entirely committed (and a retry finds the checkpoint) or not at all.
 * Parsing is CPU work in Node and inserting is CPU work in Postgres: sub-batches are pipelined so the two overlap
 * (parse sub-batch i+1 while Postgres inserts sub-batch i on the same connection). A sub-batch whose insert fails
 * is redone row-isolating (insertIsolating), so a row Postgres refuses is rejected and its neighbours are stored.
 */
export async function commitChunk(db: Db, c: ChunkToCommit): Promise<ChunkCounts> {
  const source = `import:${c.fileUri}`;
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const rejects: Reject[] = [...c.rejects];
    let blank = 0;
    const pending: Array<{ rows: ParsedLines['rows']; insert: Promise<StoreResult[]> }> = [];
    let previous: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < c.lines.length; i += SUB_BATCH) {
      const parsed: ParsedLines = { rows: [], rejects: [], blank: 0 };
      for (let j = i; j < Math.min(i + SUB_BATCH, c.lines.length); j += PARSE_SLICE) {
        const slice = parseLines(c.lines.slice(j, Math.min(j + PARSE_SLICE, i + SUB_BATCH, c.lines.length)), {
          fileKeyPrefix: `line:${c.fileUri}`,
          defaultModel: c.defaultModel,
        });
        parsed.rows.push(...slice.rows);
        parsed.rejects.push(...slice.rejects);
        parsed.blank += slice.blank;
        // node-postgres sends a queued statement only when the event loop handles the previous one's completion:
        // yielding often keeps Postgres fed while Node validates.
        await new Promise((resolve) => setImmediate(resolve));
      }
      rejects.push(...parsed.rejects);
      blank += parsed.blank;
      // Each sub-batch runs after the one before (the next is parsed meanwhile), behind a savepoint: a failed insert
      // can then be undone alone, keeping the sub-batches before it, and nothing after it is ever sent.
      const n = pending.length;
      const rows = parsed.rows.map((r) => r.row);
      const insert = previous.then(() => t.execute(sql.raw(`savepoint sub_batch_${n}`))).then(() => insertInteractions(t, c.tenantId, source, rows));
      insert.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
      previous = insert;
      pending.push({ rows: parsed.rows, insert });
    }
    let stored = 0;
    let duplicates = 0;
    const count = (rows: ParsedLines['rows'], results: Outcome[]) =>
      results.forEach((res, j) => {
        if (res.status === 'stored') stored++;
        else if (res.status === 'duplicate') duplicates++;
        else if (res.status === 'conflict')
          rejects.push({ lineNo: rows[j]!.lineNo, reason: `idempotency_key: "${res.idempotencyKey}" was already stored with different content`, excerpt: '' });
        else if (res.status === 'refused') rejects.push({ lineNo: rows[j]!.lineNo, reason: `the database refused this record: ${res.reason}`, excerpt: '' });
      });
    for (let k = 0; k < pending.length; k++) {
      try {
        count(pending[k]!.rows, await pending[k]!.insert);
      } catch (err) {
        // Go back to before this sub-batch (when even that fails, the connection is gone and the whole chunk
        // retries), then redo it and the rest, isolating the rows Postgres refuses.
        await t.execute(sql.raw(`rollback to savepoint sub_batch_${k}`)).catch(() => {
          throw err;
        });
        for (let r = k; r < pending.length; r++)
          count(
            pending[r]!.rows,
            await insertIsolating(
              t,
              c.tenantId,
              source,
              pending[r]!.rows.map((x) => x.row),
            ),
          );
        break;
      }
    }
    await saveRejections(
      t,
      rejects.map((r) => ({ runId: c.runId, sourceUri: c.fileUri, lineNo: r.lineNo, reason: sanitizeText(r.reason), excerpt: sanitizeText(r.excerpt) })),
    );
    const endOffset = c.offset + c.consumed;
    await saveChunk(t, {
      runId: c.runId,
      sourceUri: c.fileUri,
      startOffset: c.offset,
      endOffset,
      startLine: c.line,
      lines: c.lineCount,
      stored,
      duplicates,
      rejected: rejects.length,
    });
    return { endOffset, stored, duplicates, rejected: rejects.length, blank };
  });
}

/** A row's outcome: stored, duplicate or conflict (see insertInteractions), or refused by the database. */
export type Outcome = StoreResult | { status: 'refused'; reason: string };

/**
 * Inserts rows inside the caller's transaction so that a row Postgres refuses on its data (see isRowError) costs
 * only itself: the batch runs under a savepoint, and on a data error it is rolled
 * back and split in halves until the refused rows stand alone (log2(n) extra inserts per bad row). Validation
 * (normalizeRecord) refuses what it knows Postgres would; this is the net for anything it missed. Any other error
 * (a lost connection, a timeout) is thrown: the chunk's transaction is then lost and the activity retries it.
 */
export async function insertIsolating(db: Db, tenantId: string, source: string, rows: InteractionRow[]): Promise<Outcome[]> {
  if (rows.length === 0) return [];
  await db.execute(sql.raw('savepoint isolate'));
  try {
    const results = await insertInteractions(db, tenantId, source, rows);
    await db.execute(sql.raw('release savepoint isolate'));
    return results;
  } catch (err) {
    if (!isRowError(err)) throw err;
    await db.execute(sql.raw('rollback to savepoint isolate'));
    await db.execute(sql.raw('release savepoint isolate'));
    if (rows.length === 1) return [{ status: 'refused', reason: shortReason(err) }];
    const half = Math.ceil(rows.length / 2);
    return [...(await insertIsolating(db, tenantId, source, rows.slice(0, half))), ...(await insertIsolating(db, tenantId, source, rows.slice(half)))];
  }
}

/**
 * Errors one row's values can cause: class 22 (data exception: out of range, bad encoding, NUL), 54 (too large), a
 * NOT NULL or CHECK violation. Not a unique violation (inserts skip conflicts) nor a foreign key (the tenant is
 * the batch's, not a row's).
 */
function isRowError(err: unknown): boolean {
  const code = pgErrorOf(err)?.code ?? '';
  return code.startsWith('22') || code.startsWith('54') || code === '23502' || code === '23514';
}
