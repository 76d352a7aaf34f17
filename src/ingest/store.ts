import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { ingestChunks, ingestRejections } from '../db/schema';

/**
 * The ingest domain's tables: chunk checkpoints (one per committed chunk, written in the chunk's own transaction)
 * and the lines an import could not store. The interactions themselves go through src/interactions/store.ts.
 */

export type ChunkCheckpoint = typeof ingestChunks.$inferSelect;
export type Rejection = typeof ingestRejections.$inferSelect;

/** The checkpoint of the chunk that starts at `startOffset` of a file, if that chunk was committed. */
export async function findChunk(db: Db, runId: string, sourceUri: string, startOffset: number): Promise<ChunkCheckpoint | undefined> {
  const [done] = await db
    .select()
    .from(ingestChunks)
    .where(and(eq(ingestChunks.runId, runId), eq(ingestChunks.sourceUri, sourceUri), eq(ingestChunks.startOffset, startOffset)));
  return done;
}

/** Writes a chunk's checkpoint; pass the chunk's transaction so rows and checkpoint commit together. */
export async function saveChunk(db: Db, c: Omit<ChunkCheckpoint, 'committedAt'>): Promise<void> {
  await db.insert(ingestChunks).values(c);
}

/** Records rejected lines (idempotent per line). */
export async function saveRejections(db: Db, rows: Rejection[]): Promise<void> {
  if (rows.length) await db.insert(ingestRejections).values(rows).onConflictDoNothing();
}

/** A run's rejected lines, by file and line: the report's content. */
export async function runRejections(db: Db, runId: string): Promise<Rejection[]> {
  return db.select().from(ingestRejections).where(eq(ingestRejections.runId, runId)).orderBy(ingestRejections.sourceUri, ingestRejections.lineNo);
}
