import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db/client';
import { embeddings } from '../db/schema';

/** The embedding cache's table: one vector per (model, text hash). The caching logic is in ./cache.ts. */

export type CachedVector = Pick<typeof embeddings.$inferSelect, 'textHash' | 'dims' | 'vector'>;

/** The cached vectors of these text hashes under one model (hashes not cached are simply absent). */
export async function cachedVectors(db: Db, model: string, hashes: string[]): Promise<CachedVector[]> {
  return db
    .select({ textHash: embeddings.textHash, dims: embeddings.dims, vector: embeddings.vector })
    .from(embeddings)
    .where(and(eq(embeddings.model, model), inArray(embeddings.textHash, hashes)));
}

/** Stores vectors; a vector another process cached meanwhile is kept (same model and text: same vector). */
export async function saveVectors(db: Db, rows: Array<Omit<typeof embeddings.$inferInsert, 'createdAt'>>): Promise<void> {
  await db.insert(embeddings).values(rows).onConflictDoNothing();
}
