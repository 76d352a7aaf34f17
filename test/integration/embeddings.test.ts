import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddingsConfig, loadConfig } from '../../src/config';
import { loadSharedDataset } from '../../src/datasets/shared';
import { embeddings } from '../../src/db/schema';
import { bufferToVector, embedWithCache, embedWithCacheStats, textHash, vectorToBuffer } from '../../src/embeddings/cache';
import { createEmbedder } from '../../src/embeddings/index';
import { LocalOnnxEmbedder } from '../../src/embeddings/local';
import { OpenAIEmbedder } from '../../src/embeddings/openai';
import { REPO_ROOT, REFERENCE_PYTHON, ReferenceModel } from '../../src/embeddings/reference';
import { type Embedder, cosine, l2normalize } from '../../src/embeddings/types';
import { connectStack } from '../support/stack';

const MODEL_DIR = path.join(REPO_ROOT, 'models');
const SETUP_HINT = 'run scripts/setup (it exports the model to models/all-MiniLM-L6-v2 and creates .venv-ref)';

/** Every k-th query of a shared data set, so the sample is spread over all intents and always the same. */
function sample(name: 'banking77' | 'hwu64' | 'bitext-v2', n: number): string[] {
  const all = loadSharedDataset(name).map((e) => e.query);
  const step = Math.floor(all.length / n);
  return Array.from({ length: n }, (_, i) => all[i * step]!);
}

/** Real queries rewritten with what real traffic also has: accents, typographic punctuation, emoji, CJK, controls. */
function mutate(queries: string[]): string[] {
  const edits: Array<(q: string) => string> = [
    (q) => q.replace(/e/g, 'é').replace(/a/, 'à'),
    (q) => `“${q}” — ${q.toUpperCase()}…`,
    (q) => `${q} 😀👍🏽`,
    (q) => `${q}（请帮忙）谢谢`,
    (q) => q.replace(/ /g, '\u00a0').replace(/o/, 'ö'),
    (q) => `\t${q}\u200b\u0007\n`,
    (q) => q.replace(/'/g, '’').replace(/\?/g, '¿?'),
    (q) => `${q} #${q.length}@home ~ 50% off $5 <3`,
    (q) => `Ünïcödé ÇÃFÉ ${q} ΣΟΦΊΑ`,
    (q) => q.split(' ').reverse().join('  '),
  ];
  return queries.map((q, i) => edits[i % edits.length]!(q));
}

const EDGE_CASES = [
  '',
  '   ',
  'a',
  '[CLS] hello [SEP] [MASK] [cls] [unk]',
  'x'.repeat(150),
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  'naïve façade coöperate résumé Ångström Øre Łódź',
  'İstanbul ΣΑΣ ß ﬁne １２３ ℌ',
  'emoji only 🚀🔥💯 and flags 🇺🇸🇫🇷 and zwj 👩‍👩‍👧',
  'tabs\tand\nnewlines\r\nand\u000bvertical\u000cform\u0085next',
  'price: $1,299.99 (incl. 20% VAT) — see https://example.com/a?b=c&d=e#f',
  '日本語のテキストと한국어 텍스트',
  'Где моя карта? Ich möchte meine Karte sperren!',
  // longer than 256 tokens: truncation
  Array.from({ length: 300 }, (_, i) => `word${i}`).join(' '),
];

describe('embeddings (all-MiniLM-L6-v2 against sentence-transformers)', () => {
  let ref: ReferenceModel;
  let local: LocalOnnxEmbedder;
  // A missing model or reference venv fails every test here with the fix (never a skip).
  let missing: Error | undefined;
  const ready = () => {
    if (missing) throw missing;
  };

  beforeAll(async () => {
    const onnx = path.join(MODEL_DIR, 'all-MiniLM-L6-v2', 'model.onnx');
    if (!existsSync(onnx)) missing = new Error(`${onnx} is missing: ${SETUP_HINT}`);
    else if (!existsSync(REFERENCE_PYTHON)) missing = new Error(`${REFERENCE_PYTHON} is missing: ${SETUP_HINT}`);
    if (missing) return;
    ref = ReferenceModel.start();
    local = await LocalOnnxEmbedder.create({ modelDir: MODEL_DIR });
  });

  afterAll(async () => {
    await ref?.close();
    await local?.close();
  });

  it('tokenizes exactly as the HF tokenizers package on real queries with accents, punctuation and emoji', async () => {
    ready();
    const nonAscii = loadSharedDataset('banking77')
      .map((e) => e.query)
      .filter((q) => /[^\x00-\x7f]/.test(q));
    const real = [...sample('banking77', 120), ...sample('hwu64', 120), ...sample('bitext-v2', 120)];
    const texts = [...real, ...nonAscii, ...mutate(real.slice(0, 120)), ...EDGE_CASES];
    expect(real.length).toBeGreaterThanOrEqual(300);
    const expected = await ref.tokenize(texts);
    const mismatches = texts.flatMap((t, i) => {
      const got = local.tokenizer.encode(t).ids;
      return JSON.stringify(got) === JSON.stringify(expected[i]) ? [] : [{ text: t, got, expected: expected[i] }];
    });
    expect(mismatches.slice(0, 5)).toEqual([]);
    // the long one is cut at max_seq_length = 256 tokens, [CLS] and [SEP] included
    expect(local.tokenizer.encode(EDGE_CASES.at(-1)!)).toMatchObject({ truncated: true });
    expect(local.tokenizer.encode(EDGE_CASES.at(-1)!).ids).toHaveLength(256);
  });

  it('gives the vectors sentence-transformers gives (cosine >= 0.99 on every text)', async () => {
    ready();
    const real = [...sample('banking77', 100), ...sample('hwu64', 100), ...sample('bitext-v2', 100)];
    const texts = [...real, ...mutate(real.slice(0, 50)), ...EDGE_CASES];
    expect(real.length).toBeGreaterThanOrEqual(200);
    const [mine, theirs] = [await local.embed(texts), await ref.embed(texts)];
    expect(local.dims).toBe(384);
    expect(local.id).toBe('local:all-MiniLM-L6-v2');
    const cos = texts.map((_, i) => cosine(mine[i]!, theirs[i]!));
    const min = Math.min(...cos);
    const worst = texts[cos.indexOf(min)];
    console.log(
      `[embeddings] ${texts.length} texts: min cosine ${min.toFixed(9)} (1 - min = ${(1 - min).toExponential(1)}, ${JSON.stringify(worst?.slice(0, 60))}), mean ${(cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(9)}`,
    );
    expect(min).toBeGreaterThanOrEqual(0.99);
    for (const v of mine) {
      expect(v).toHaveLength(384);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
  });

  it('gives a text the same vector alone and in a padded batch (mask handling), in input order', async () => {
    ready();
    const texts = ['where is my card?', EDGE_CASES.at(-1)!, 'cancel my order please', 'hi'];
    const batched = await local.embed(texts);
    for (let i = 0; i < texts.length; i++) {
      const [alone] = await local.embed([texts[i]!]);
      expect(cosine(alone!, batched[i]!)).toBeGreaterThan(0.99999);
    }
    expect(await local.embed([])).toEqual([]);
    // concurrent calls are serialised and each gets its own texts' vectors
    const [a, b] = await Promise.all([local.embed(['hi']), local.embed(['cancel my order please'])]);
    expect(cosine(a[0]!, batched[3]!)).toBeGreaterThan(0.99999);
    expect(cosine(b[0]!, batched[2]!)).toBeGreaterThan(0.99999);
  });

  it('says to run scripts/setup when the model folder is missing', async () => {
    await expect(LocalOnnxEmbedder.create({ modelDir: path.join(REPO_ROOT, 'no-such-models-dir') })).rejects.toThrow(/run scripts\/setup/);
  });
});

// ------------------------------------------------------------------------------------------------ OpenAI-compatible

/** Deterministic 8-dim vector of a text, deliberately not normalised. */
function fakeVector(text: string): number[] {
  const h = createHash('sha256').update(text).digest();
  return Array.from({ length: 8 }, (_, i) => (h[i]! - 128) / 16 + (i === 0 ? 5 : 0));
}

interface FakeServer {
  url: string;
  requests: Array<{ inputs: string[]; encoding?: string; auth?: string; status: number }>;
  /** the next N requests answer 500 */
  failNext: number;
  /** the next N requests wait this long before answering */
  stallNext: number;
  close(): Promise<void>;
}

/** A local OpenAI-compatible embeddings server: POST /v1/embeddings, answers in shuffled order with indices. */
async function startFakeServer(stallMs = 1500): Promise<FakeServer> {
  const state: FakeServer = { url: '', requests: [], failNext: 0, stallNext: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
        res.writeHead(404).end();
        return;
      }
      const parsed = JSON.parse(body) as { input: string[] | string; model: string; encoding_format?: string };
      const inputs = Array.isArray(parsed.input) ? parsed.input : [parsed.input];
      const entry = { inputs, encoding: parsed.encoding_format, auth: req.headers.authorization, status: 200 };
      state.requests.push(entry);
      if (state.failNext > 0) {
        state.failNext--;
        entry.status = 500;
        res.writeHead(500, { 'content-type': 'application/json', 'retry-after-ms': '10' }).end(JSON.stringify({ error: { message: 'boom' } }));
        return;
      }
      if (state.stallNext > 0) {
        state.stallNext--;
        entry.status = 0;
        await new Promise((r) => setTimeout(r, stallMs));
        if (res.destroyed || req.socket.destroyed) return;
      }
      const data = inputs.map((text, index) => {
        const v = fakeVector(text);
        const embedding = parsed.encoding_format === 'base64' ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v;
        return { object: 'embedding', index, embedding };
      });
      data.reverse(); // clients must use `index`, not the position
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ object: 'list', model: parsed.model, data, usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () => new Promise<void>((r) => server.close(() => r()));
  return state;
}

describe('OpenAIEmbedder against a local OpenAI-compatible server', () => {
  let server: FakeServer;
  beforeAll(async () => {
    server = await startFakeServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const expected = (t: string) => l2normalize(Float32Array.from(fakeVector(t)));

  it('splits into batches, keeps input order by index, normalises, learns dims from the first answer', async () => {
    server.requests.length = 0;
    const e = new OpenAIEmbedder({ model: 'fake-embed', baseURL: server.url, apiKey: 'k-test', batchSize: 4, maxRetries: 0 });
    expect(e.id).toBe('openai:fake-embed');
    expect(e.dims).toBe(0);
    const texts = Array.from({ length: 10 }, (_, i) => `query number ${i}`);
    const vectors = await e.embed(texts);
    expect(server.requests.map((r) => r.inputs.length)).toEqual([4, 4, 2]);
    expect(server.requests.flatMap((r) => r.inputs)).toEqual(texts);
    expect(server.requests[0]).toMatchObject({ encoding: 'float', auth: 'Bearer k-test' });
    expect(e.dims).toBe(8);
    vectors.forEach((v, i) => {
      expect(Math.hypot(...v)).toBeCloseTo(1, 6);
      expect(cosine(v, expected(texts[i]!))).toBeCloseTo(1, 6);
      expect(Array.from(v)).toEqual(Array.from(expected(texts[i]!)));
    });
  });

  it('retries after a 500 and after a timeout', async () => {
    server.requests.length = 0;
    const e = new OpenAIEmbedder({ model: 'fake-embed', baseURL: server.url, batchSize: 3, maxRetries: 2, timeoutMs: 500 });
    server.failNext = 1;
    const v1 = await e.embed(['a', 'b', 'c', 'd']);
    expect(server.requests.map((r) => [r.status, r.inputs])).toEqual([
      [500, ['a', 'b', 'c']],
      [200, ['a', 'b', 'c']],
      [200, ['d']],
    ]);
    expect(Array.from(v1[3]!)).toEqual(Array.from(expected('d')));

    server.requests.length = 0;
    server.stallNext = 1;
    const v2 = await e.embed(['slow']);
    expect(server.requests.map((r) => r.status)).toEqual([0, 200]);
    expect(Array.from(v2[0]!)).toEqual(Array.from(expected('slow')));
  });

  it('gives up after maxRetries with the server error', async () => {
    const e = new OpenAIEmbedder({ model: 'fake-embed', baseURL: server.url, maxRetries: 1 });
    server.failNext = 2;
    await expect(e.embed(['x'])).rejects.toThrow(/500/);
    server.failNext = 0;
  });

  it('reads base64 answers, and checks dims when they are configured', async () => {
    const e = new OpenAIEmbedder({ model: 'fake-embed', baseURL: server.url, encodingFormat: 'base64', maxRetries: 0 });
    const [v] = await e.embed(['base64 please']);
    expect(server.requests.at(-1)?.encoding).toBe('base64');
    expect(Array.from(v!)).toEqual(Array.from(expected('base64 please')));
    const wrong = new OpenAIEmbedder({ model: 'fake-embed', baseURL: server.url, dims: 16, maxRetries: 0 });
    await expect(wrong.embed(['x'])).rejects.toThrow(/8 dims, expected 16/);
  });

  it('is what createEmbedder makes for EMBEDDING_PROVIDER=openai, with dims known', async () => {
    const config = loadConfig({
      EMBEDDING_PROVIDER: 'openai',
      EMBEDDING_MODEL: 'fake-embed',
      OPENAI_BASE_URL: server.url,
      OPENAI_API_KEY: 'k',
      EMBEDDING_BATCH_SIZE: '2',
    });
    expect(config.embeddings).toEqual({ provider: 'openai', model: 'fake-embed', baseURL: server.url, apiKey: 'k', batchSize: 2 });
    const e = await createEmbedder(config.embeddings);
    expect(e).toBeInstanceOf(OpenAIEmbedder);
    expect(e.dims).toBe(8);
    expect(e.id).toBe('openai:fake-embed');
    expect((e as OpenAIEmbedder).batchSize).toBe(2);
  });

  it('config: local is the default; openai needs a model; bad values are named', () => {
    expect(loadConfig({}).embeddings).toEqual({
      provider: 'local',
      model: 'all-MiniLM-L6-v2',
      modelDir: path.resolve('models'),
      batchSize: 32,
      threads: undefined,
    });
    expect(loadConfig({ EMBEDDING_MODEL_DIR: '/srv/models', EMBEDDING_THREADS: '1', EMBEDDING_BATCH_SIZE: '8' }).embeddings).toEqual({
      provider: 'local',
      model: 'all-MiniLM-L6-v2',
      modelDir: '/srv/models',
      batchSize: 8,
      threads: 1,
    });
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'openai' })).toThrow(/EMBEDDING_MODEL/);
    expect(() => loadConfig({ EMBEDDING_PROVIDER: 'cohere' })).toThrow(/EMBEDDING_PROVIDER/);
    expect(() => loadConfig({ EMBEDDING_THREADS: '0' })).toThrow(/EMBEDDING_THREADS/);
    expect(() => loadConfig({ OPENAI_BASE_URL: 'not a url' })).toThrow(/OPENAI_BASE_URL/);
  });

  it('createEmbedder makes the local model by default', async () => {
    const e = await createEmbedder({ ...loadConfig({}).embeddings, modelDir: MODEL_DIR } as EmbeddingsConfig);
    try {
      expect(e).toBeInstanceOf(LocalOnnxEmbedder);
      expect([e.id, e.dims]).toEqual(['local:all-MiniLM-L6-v2', 384]);
    } finally {
      await e.close?.();
    }
  });
});

// ------------------------------------------------------------------------------------------------ cache in Postgres

/** A deterministic embedder that counts what it is asked to embed. */
class CountingEmbedder implements Embedder {
  calls: string[][] = [];
  constructor(
    readonly id: string,
    readonly dims = 8,
  ) {}
  async embed(texts: string[]): Promise<Float32Array[]> {
    this.calls.push([...texts]);
    return texts.map((t) => l2normalize(Float32Array.from(fakeVector(t))));
  }
  get embedded(): string[] {
    return this.calls.flat();
  }
}

describe('embedWithCache on Postgres', () => {
  let stack: Awaited<ReturnType<typeof connectStack>>;
  beforeAll(async () => {
    stack = await connectStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('encodes vectors as little-endian float32 bytes and back, bit for bit', () => {
    const v = Float32Array.from([1, -0.5, 3.4028234663852886e38, 1e-45, 0]);
    const b = vectorToBuffer(v);
    expect(b).toHaveLength(20);
    expect(b.readFloatLE(4)).toBe(-0.5);
    expect(Array.from(bufferToVector(b))).toEqual(Array.from(v));
    // from an unaligned slice of a bigger buffer
    const big = Buffer.concat([Buffer.from([9]), b]);
    expect(Array.from(bufferToVector(big.subarray(1)))).toEqual(Array.from(v));
    expect(() => bufferToVector(Buffer.alloc(5))).toThrow(/float32/);
    expect(textHash('hello')).toBe(createHash('sha256').update('hello').digest('hex'));
  });

  it('embeds each distinct text once, and nothing on the second call', async () => {
    const e = new CountingEmbedder(`test:counting-${randomBytes(4).toString('hex')}`);
    const texts = ['alpha', 'beta', 'alpha', 'gamma', 'beta', 'delta', 'épsilon 😀', 'alpha', 'zeta', 'eta', 'theta'];
    const opts = { readChunk: 3, embedChunk: 4, writeChunk: 2 }; // small chunks: every loop runs several times
    const first = await embedWithCacheStats(stack.db, e, texts, opts);
    const distinct = [...new Set(texts)];
    expect(e.embedded.sort()).toEqual([...distinct].sort());
    expect(e.calls.map((c) => c.length)).toEqual([4, 4]);
    expect(first.stats).toEqual({ texts: 11, unique: 8, cached: 0, embedded: 8 });
    first.vectors.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(l2normalize(Float32Array.from(fakeVector(texts[i]!))))));

    e.calls = [];
    const second = await embedWithCacheStats(stack.db, e, texts, opts);
    expect(e.calls).toEqual([]);
    expect(second.stats).toEqual({ texts: 11, unique: 8, cached: 8, embedded: 0 });
    second.vectors.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(first.vectors[i]!)));

    // only the new texts are embedded
    const third = await embedWithCache(stack.db, e, ['beta', 'iota', 'kappa', 'iota']);
    expect(e.embedded).toEqual(['iota', 'kappa']);
    expect(Array.from(third[0]!)).toEqual(Array.from(first.vectors[1]!));

    const rows = await stack.db
      .select({ n: sql<number>`count(*)::int`, dims: sql<number>`min(${embeddings.dims})` })
      .from(embeddings)
      .where(eq(embeddings.model, e.id));
    expect(rows[0]).toEqual({ n: 10, dims: 8 });
    const [row] = await stack.db
      .select()
      .from(embeddings)
      .where(and(eq(embeddings.model, e.id), eq(embeddings.textHash, textHash('épsilon 😀'))));
    expect(row!.vector).toHaveLength(32);
  });

  it('keys the cache by embedder id: another model embeds the same texts again', async () => {
    const a = new CountingEmbedder(`test:a-${randomBytes(4).toString('hex')}`);
    const b = new CountingEmbedder(`test:b-${randomBytes(4).toString('hex')}`);
    await embedWithCache(stack.db, a, ['same text']);
    await embedWithCache(stack.db, b, ['same text']);
    expect([a.embedded, b.embedded]).toEqual([['same text'], ['same text']]);
    expect(await embedWithCache(stack.db, a, [])).toEqual([]);
  });

  it('refuses cached vectors whose length differs from the embedder', async () => {
    const id = `test:dims-${randomBytes(4).toString('hex')}`;
    await embedWithCache(stack.db, new CountingEmbedder(id), ['t']);
    await expect(embedWithCache(stack.db, new CountingEmbedder(id, 4), ['t'])).rejects.toThrow(/8 dims but the embedder gives 4/);
  });

  it('caches the local model vectors bit for bit', async () => {
    if (!existsSync(path.join(MODEL_DIR, 'all-MiniLM-L6-v2', 'model.onnx'))) throw new Error(`models/all-MiniLM-L6-v2 is missing: ${SETUP_HINT}`);
    const local = await LocalOnnxEmbedder.create({ modelDir: MODEL_DIR, id: `local:all-MiniLM-L6-v2-test-${randomBytes(4).toString('hex')}` });
    try {
      const texts = sample('banking77', 20);
      const first = await embedWithCache(stack.db, local, texts);
      const second = await embedWithCache(stack.db, local, texts);
      second.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(first[i]!)));
    } finally {
      await local.close();
    }
  });
});
