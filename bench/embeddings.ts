/**
 * Query-embedding benchmark (run by hand: `npx tsx bench/embeddings.ts [--flags]`). Short real queries per second
 * for LocalOnnxEmbedder (all-MiniLM-L6-v2 in onnxruntime-node, in-process) against sentence-transformers
 * (`SentenceTransformer.encode(texts, batch_size)`, CPU torch in .venv-ref), on the same texts in the same run.
 * The issue's goal: the local embedder at least 2x sentence-transformers.
 *
 * Method: both models are loaded and warmed up first (load time is not measured). Then `rounds` rounds, each timing
 * one pass of sentence-transformers over all texts and then one pass of the local embedder, alternating, so that
 * load from other processes on this shared machine hits both alike; the figures are the median and the best round
 * of each (other processes only slow rounds down, so the ratio of the best rounds is the headline). The local
 * figure includes tokenisation (the TypeScript WordPiece) and tensor building, as a caller sees it;
 * sentence-transformers' includes its tokeniser likewise. Vectors are checked to agree (cosine) on the texts.
 *
 * Options (flag `--name=value` or environment `BENCH_NAME`):
 *   --texts=3000          queries, a third each from banking77, hwu64 and bitext-v2 (shared data sets)
 *   --rounds=5            measured rounds per engine
 *   --batch-size=32       LocalOnnxEmbedder batch size (texts per inference call, sorted by length)
 *   --threads=<cores>     onnxruntime intra-op threads
 *   --st-batch-size=32    sentence-transformers encode() batch size (its default is 32)
 *   --st-threads=0        torch threads (0: torch's default, one per core)
 *   --sweep=false         also time the local embedder at batch sizes 8..128 and threads 1..cores, and
 *                         sentence-transformers at batch sizes 16..128 (best of `rounds` each)
 */
import os from 'node:os';
import { loadSharedDataset } from '../src/datasets/shared';
import { LocalOnnxEmbedder } from '../src/embeddings/local';
import { REPO_ROOT, ReferenceModel } from '../src/embeddings/reference';
import { cosine } from '../src/embeddings/types';

function opt(name: string, def: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (flag) return flag.slice(name.length + 3);
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? def;
}

const cores = os.availableParallelism();
const N = Number(opt('texts', '3000'));
const ROUNDS = Number(opt('rounds', '5'));
const BATCH = Number(opt('batch-size', '32'));
const THREADS = Number(opt('threads', String(cores)));
const ST_BATCH = Number(opt('st-batch-size', '32'));
const ST_THREADS = Number(opt('st-threads', '0'));
const SWEEP = ['1', 'true'].includes(opt('sweep', 'false'));

function queries(n: number): string[] {
  const sets = (['banking77', 'hwu64', 'bitext-v2'] as const).map((d) => loadSharedDataset(d).map((e) => e.query));
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) for (const s of sets) if (out.length < n) out.push(s[i % s.length]!);
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (n: number, seconds: number) => n / seconds;
const f0 = (x: number) => x.toFixed(0).padStart(6);

async function timeLocal(e: LocalOnnxEmbedder, texts: string[]): Promise<number> {
  const t0 = performance.now();
  await e.embed(texts);
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  const texts = queries(N);
  const ref = ReferenceModel.start();
  try {
    const info = await ref.info();
    const local = await LocalOnnxEmbedder.create({ modelDir: `${REPO_ROOT}/models`, batchSize: BATCH, threads: THREADS });
    const tokens = texts.map((t) => local.tokenizer.encode(t).ids.length);
    const meanTokens = tokens.reduce((a, b) => a + b, 0) / tokens.length;
    console.log(
      `machine: ${cores} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      `texts: ${texts.length} short queries (banking77, hwu64, bitext-v2), ${meanTokens.toFixed(1)} tokens on average incl. [CLS]/[SEP], max ${Math.max(...tokens)}`,
    );
    console.log(
      `reference: torch ${info.torch}, sentence-transformers ${info['sentence-transformers']}; local: onnxruntime-node, ${local.modelPath.replace(`${REPO_ROOT}/`, '')}`,
    );

    // agreement, and warm-up of both
    const check = texts.slice(0, 300);
    const [mine, theirs] = [await local.embed(check), await ref.embed(check, ST_BATCH)];
    const cos = check.map((_, i) => cosine(mine[i]!, theirs[i]!));
    console.log(`agreement on ${check.length} texts: min cosine ${Math.min(...cos).toFixed(9)}`);
    await ref.time(texts.slice(0, 512), ST_BATCH, ST_THREADS);
    await local.embed(texts.slice(0, 512));

    // tokenisation alone (TypeScript WordPiece), on a fresh tokenizer so the word cache starts empty
    const { WordPieceTokenizer } = await import('../src/embeddings/wordpiece');
    const freshTok = WordPieceTokenizer.fromDir(`${REPO_ROOT}/models/all-MiniLM-L6-v2`);
    const t0 = performance.now();
    for (const t of texts) freshTok.encode(t);
    const tokMs = performance.now() - t0;

    const st: number[] = [];
    const loc: number[] = [];
    let stThreads = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const s = await ref.time(texts, ST_BATCH, ST_THREADS);
      stThreads = s.threads;
      st.push(rate(texts.length, s.seconds));
      loc.push(rate(texts.length, await timeLocal(local, texts)));
      console.log(`round ${r + 1}: sentence-transformers ${f0(st.at(-1)!)}/s   local onnx ${f0(loc.at(-1)!)}/s`);
    }
    console.log('');
    console.log(
      `sentence-transformers  batch ${ST_BATCH}, ${stThreads} torch threads:  median ${f0(median(st))} texts/s   best ${f0(Math.max(...st))} texts/s`,
    );
    console.log(`LocalOnnxEmbedder      batch ${BATCH}, ${THREADS} ort threads:    median ${f0(median(loc))} texts/s   best ${f0(Math.max(...loc))} texts/s`);
    console.log(
      `  (of which tokenisation: ${((tokMs / texts.length) * 1000).toFixed(1)} µs/text, ${((((tokMs / 1000) * median(loc)) / texts.length) * 100).toFixed(1)}% of the time)`,
    );
    // Other processes only ever slow a round down, so the best round of each is the steadiest figure to compare.
    const ratio = Math.max(...loc) / Math.max(...st);
    console.log(
      `ratio local / sentence-transformers: best ${ratio.toFixed(2)}x (goal >= 2x: ${ratio >= 2 ? 'met' : 'NOT met'}), median ${(median(loc) / median(st)).toFixed(2)}x`,
    );
    const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / Math.max(...xs);
    if (spread(st) > 0.25 || spread(loc) > 0.25)
      console.log(`note: rounds varied by more than 25% (load average ${os.loadavg()[0]!.toFixed(2)}): other processes shared the CPU`);

    if (SWEEP) {
      console.log('\nsweep (best of each):');
      for (const threads of [...new Set([1, cores])]) {
        for (const batchSize of [8, 16, 32, 64, 128]) {
          const e = await LocalOnnxEmbedder.create({ modelDir: `${REPO_ROOT}/models`, batchSize, threads });
          await e.embed(texts.slice(0, 256));
          const rs: number[] = [];
          for (let r = 0; r < ROUNDS; r++) rs.push(rate(texts.length, await timeLocal(e, texts)));
          console.log(
            `  local onnx            threads ${threads} batch ${String(batchSize).padStart(3)}: ${f0(Math.max(...rs))} texts/s (median ${f0(median(rs))})`,
          );
          await e.close();
        }
      }
      for (const batchSize of [16, 32, 64, 128]) {
        const rs: number[] = [];
        for (let r = 0; r < ROUNDS; r++) rs.push(rate(texts.length, (await ref.time(texts, batchSize, ST_THREADS)).seconds));
        console.log(
          `  sentence-transformers threads ${stThreads} batch ${String(batchSize).padStart(3)}: ${f0(Math.max(...rs))} texts/s (median ${f0(median(rs))})`,
        );
      }
    }
    await local.close();
  } finally {
    await ref.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
