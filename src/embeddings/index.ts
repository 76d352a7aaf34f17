import type { EmbeddingsConfig } from '../config';
import { LocalOnnxEmbedder } from './local';
import { OpenAIEmbedder } from './openai';
import type { Embedder } from './types';

export {
  type EmbedWithCacheOptions,
  type EmbedWithCacheStats,
  bufferToVector,
  embedWithCache,
  embedWithCacheStats,
  fromBytes,
  textHash,
  toBytes,
  vectorToBuffer,
} from './cache';
export { DEFAULT_LOCAL_MODEL, LocalOnnxEmbedder, type LocalOnnxEmbedderOptions } from './local';
export { OpenAIEmbedder, type OpenAIEmbedderOptions } from './openai';
export { type Embedder, cosine, l2normalize } from './types';
export { WordPieceTokenizer } from './wordpiece';

/**
 * The embedder that `config.embeddings` (EMBEDDING_* environment variables) describes, with `dims` known: the local
 * model is loaded here (under a second); an OpenAI-compatible endpoint gets one one-text request to learn its
 * vector length (so it must be reachable).
 */
export async function createEmbedder(config: EmbeddingsConfig): Promise<Embedder & { close?: () => Promise<void> }> {
  switch (config.provider) {
    case 'local':
      return LocalOnnxEmbedder.create({ modelDir: config.modelDir, model: config.model, batchSize: config.batchSize, threads: config.threads });
    case 'openai': {
      const embedder = new OpenAIEmbedder({ model: config.model, baseURL: config.baseURL, apiKey: config.apiKey, batchSize: config.batchSize });
      await embedder.ensureDims();
      return embedder;
    }
  }
}
