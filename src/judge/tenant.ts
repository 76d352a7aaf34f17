import type { Db } from '../db/client';
import { embedWithCache } from '../embeddings/cache';
import type { EmbedderSource } from '../embeddings/lazy';
import { EmbeddingJudge } from './embedding';
import { latestCalibration } from './store';
import type { Judge } from './types';

/**
 * The tenant's judge: the embedding judge with the calibration its newest graduation fitted (answers embedded through
 * the cache), or undefined before the first judged graduation. What the adapter gate, cheap-model trials and the
 * publish replay judge with, so every tier is measured on one scale.
 */
export function tenantJudges(db: Db, embedder: EmbedderSource): (tenantId: string) => Promise<Judge | undefined> {
  return async (tenantId) => {
    const calibration = await latestCalibration(db, tenantId);
    if (!calibration) return undefined;
    const emb = await embedder();
    return new EmbeddingJudge((texts) => embedWithCache(db, emb, texts), calibration);
  };
}
