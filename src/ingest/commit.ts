import type { Db } from '../db/client';
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
}

/** Lines per insert statement inside a chunk, and per synchronous validation step. */
const SUB_BATCH = 500;
const PARSE_SLICE = 100;

/**
 * Validates and stores one chunk of JSONL lines in ONE transaction together with its rejections and its checkpoint
 * row, so a chunk is either entirely committed (and a retry finds the checkpoint) or not at all.
 * Parsing is CPU work in Node and inserting is CPU work in Postgres: sub-batches are pipelined so the two overlap
 * (parse sub-batch i+1 while Postgres inserts sub-batch i on the same connection).
 */
export async function commitChunk(db: Db, c: ChunkToCommit): Promise<ChunkCounts> {
  const source = `import:${c.fileUri}`;
  return db.transaction(async (tx) => {
    const t = tx as unknown as Db;
    const rejects: Reject[] = [...c.rejects];
    const pending: Array<{ lineNos: number[]; insert: Promise<StoreResult[]> }> = [];
    for (let i = 0; i < c.lines.length; i += SUB_BATCH) {
      const parsed: ParsedLines = { rows: [], rejects: [] };
      for (let j = i; j < Math.min(i + SUB_BATCH, c.lines.length); j += PARSE_SLICE) {
        const slice = parseLines(c.lines.slice(j, Math.min(j + PARSE_SLICE, i + SUB_BATCH, c.lines.length)), { fileKeyPrefix: `line:${c.fileUri}`, defaultModel: c.defaultModel });
        parsed.rows.push(...slice.rows);
        parsed.rejects.push(...slice.rejects);
        // node-postgres sends a queued statement only when the event loop handles the previous one's completion:
        // yielding often keeps Postgres fed while Node validates.
        await new Promise((resolve) => setImmediate(resolve));
      }
      rejects.push(...parsed.rejects);
      const insert = insertInteractions(t, c.tenantId, source, parsed.rows.map((r) => r.row));
      insert.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
      pending.push({ lineNos: parsed.rows.map((r) => r.lineNo), insert });
    }
    let stored = 0;
    let duplicates = 0;
    for (const { lineNos, insert } of pending) {
      (await insert).forEach((res, j) => {
        if (res.status === 'stored') stored++;
        else if (res.status === 'duplicate') duplicates++;
        else rejects.push({ lineNo: lineNos[j]!, reason: `idempotency_key: "${res.idempotencyKey}" was already stored with different content`, excerpt: '' });
      });
    }
    await saveRejections(t, rejects.map((r) => ({ runId: c.runId, sourceUri: c.fileUri, lineNo: r.lineNo, reason: r.reason, excerpt: r.excerpt })));
    const endOffset = c.offset + c.consumed;
    await saveChunk(t, { runId: c.runId, sourceUri: c.fileUri, startOffset: c.offset, endOffset, startLine: c.line, lines: c.lineCount, stored, duplicates, rejected: rejects.length });
    return { endOffset, stored, duplicates, rejected: rejects.length };
  });
}
