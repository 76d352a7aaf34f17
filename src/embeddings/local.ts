import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type Embedder, l2normalize } from './types';
import { WordPieceTokenizer } from './wordpiece';

export const DEFAULT_LOCAL_MODEL = 'all-MiniLM-L6-v2';

export interface LocalOnnxEmbedderOptions {
  /** Folder that holds one sub-folder per model (default ./models, as scripts/setup writes it). */
  modelDir?: string;
  /** Model name, the sub-folder of modelDir (default all-MiniLM-L6-v2). */
  model?: string;
  /** ONNX file inside the model folder (default model.onnx). */
  modelFile?: string;
  /** Cache key id (default `local:<model>`). A quantised or otherwise different graph needs its own id. */
  id?: string;
  /** onnxruntime intra-op threads (default: the machine's cores). */
  threads?: number;
  /** Texts per inference call (default 32). Texts are sorted by token count first, so a batch pads little. */
  batchSize?: number;
  /** Cap on batch size x padded length, so a batch of long texts does not take a huge tensor (default 8192). */
  maxBatchTokens?: number;
  /** Override max_seq_length from sentence_bert_config.json. */
  maxSeqLength?: number;
}

/**
 * all-MiniLM-L6-v2 (or another BERT-style sentence-transformers model exported the same way) run in-process with
 * onnxruntime-node on the CPU; nothing goes over the network. The model folder is what
 * scripts/models/export_minilm_onnx.py writes: model.onnx, tokenizer.json/vocab.txt, config.json,
 * sentence_bert_config.json, manifest.json. When the graph has a `sentence_embedding` output (mean pooling and L2
 * normalisation inside the graph) it is used; otherwise `last_hidden_state` is mean-pooled over the mask here.
 */
export class LocalOnnxEmbedder implements Embedder {
  readonly id: string;
  readonly dims: number;
  readonly model: string;
  readonly modelPath: string;
  readonly batchSize: number;
  readonly maxBatchTokens: number;
  readonly threads: number;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly tokenizer: WordPieceTokenizer,
    private readonly session: ort.InferenceSession,
    opts: { id: string; dims: number; model: string; modelPath: string; batchSize: number; maxBatchTokens: number; threads: number },
  ) {
    this.id = opts.id;
    this.dims = opts.dims;
    this.model = opts.model;
    this.modelPath = opts.modelPath;
    this.batchSize = opts.batchSize;
    this.maxBatchTokens = opts.maxBatchTokens;
    this.threads = opts.threads;
  }

  static async create(opts: LocalOnnxEmbedderOptions = {}): Promise<LocalOnnxEmbedder> {
    const model = opts.model ?? DEFAULT_LOCAL_MODEL;
    const dir = path.resolve(opts.modelDir ?? 'models', model);
    const modelPath = path.join(dir, opts.modelFile ?? 'model.onnx');
    if (!existsSync(modelPath)) {
      throw new Error(
        `embedding model ${model} not found: ${modelPath} is missing; run scripts/setup (it exports ${DEFAULT_LOCAL_MODEL} to models/), ` +
          `or set EMBEDDING_MODEL_DIR to the folder that holds ${model}/`,
      );
    }
    const config = readJson(path.join(dir, 'config.json')) as { hidden_size?: number } | undefined;
    const manifest = readJson(path.join(dir, 'manifest.json')) as { dims?: number } | undefined;
    const dims = Number(manifest?.dims ?? config?.hidden_size);
    if (!Number.isInteger(dims) || dims <= 0) throw new Error(`embedding model ${model}: no dims in ${dir}/manifest.json or config.json; run scripts/setup`);
    const tokenizer = WordPieceTokenizer.fromDir(dir, { maxLength: opts.maxSeqLength });
    const threads = Math.max(1, opts.threads ?? os.availableParallelism());
    const session = await ort.InferenceSession.create(modelPath, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
    for (const name of ['input_ids', 'attention_mask']) {
      if (!session.inputNames.includes(name)) throw new Error(`${modelPath}: the graph has no input ${name} (inputs: ${session.inputNames.join(', ')})`);
    }
    if (!session.outputNames.includes('sentence_embedding') && !session.outputNames.includes('last_hidden_state')) {
      throw new Error(`${modelPath}: the graph has neither sentence_embedding nor last_hidden_state as an output`);
    }
    return new LocalOnnxEmbedder(tokenizer, session, {
      id: opts.id ?? `local:${model}`,
      dims,
      model,
      modelPath,
      batchSize: Math.max(1, opts.batchSize ?? 32),
      maxBatchTokens: Math.max(1, opts.maxBatchTokens ?? 8192),
      threads,
    });
  }

  /** One unit vector per text, in input order. Calls are serialised: the session already uses every core. */
  embed(texts: string[]): Promise<Float32Array[]> {
    const run = this.queue.then(() => this.embedNow(texts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.session.release();
  }

  private async embedNow(texts: string[]): Promise<Float32Array[]> {
    const out = new Array<Float32Array>(texts.length);
    if (texts.length === 0) return out;
    const encoded = texts.map((t) => this.tokenizer.encode(t).ids);
    // Longest first: similar lengths share a batch (little padding), and a too-large batch fails early.
    const order = encoded.map((_, i) => i).sort((a, b) => encoded[b]!.length - encoded[a]!.length || a - b);
    for (let start = 0; start < order.length;) {
      const maxLen = encoded[order[start]!]!.length;
      const size = Math.max(1, Math.min(this.batchSize, Math.floor(this.maxBatchTokens / maxLen), order.length - start));
      const batch = order.slice(start, start + size);
      const vectors = await this.runBatch(
        batch.map((i) => encoded[i]!),
        maxLen,
      );
      batch.forEach((i, j) => (out[i] = vectors[j]!));
      start += size;
    }
    return out;
  }

  private async runBatch(ids: number[][], seqLen: number): Promise<Float32Array[]> {
    const n = ids.length;
    const inputIds = new BigInt64Array(n * seqLen);
    const mask = new BigInt64Array(n * seqLen);
    for (let r = 0; r < n; r++) {
      const row = ids[r]!;
      const base = r * seqLen;
      for (let c = 0; c < row.length; c++) {
        inputIds[base + c] = BigInt(row[c]!);
        mask[base + c] = 1n;
      }
    }
    const dims = [n, seqLen];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', inputIds, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
    };
    if (this.session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(n * seqLen), dims);
    const pooled = this.session.outputNames.includes('sentence_embedding');
    const outputName = pooled ? 'sentence_embedding' : 'last_hidden_state';
    const result = await this.session.run(feeds, [outputName]);
    const tensor = result[outputName]!;
    const data = tensor.data as Float32Array;
    const vectors: Float32Array[] = [];
    const d = this.dims;
    if (pooled) {
      if (tensor.dims[1] !== d) throw new Error(`${this.modelPath}: sentence_embedding has ${tensor.dims[1]} dims, expected ${d}`);
      // Copy (slice), so the vectors do not keep the whole batch's buffer alive; re-normalise against rounding.
      for (let r = 0; r < n; r++) vectors.push(l2normalize(data.slice(r * d, (r + 1) * d)));
    } else {
      for (let r = 0; r < n; r++) {
        const v = new Float32Array(d);
        const len = ids[r]!.length;
        for (let t = 0; t < len; t++) {
          const off = (r * seqLen + t) * d;
          for (let k = 0; k < d; k++) v[k]! += data[off + k]!;
        }
        for (let k = 0; k < d; k++) v[k]! /= len;
        vectors.push(l2normalize(v));
      }
    }
    tensor.dispose();
    return vectors;
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}
