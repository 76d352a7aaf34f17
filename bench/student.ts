/**
 * A real student on the CPU (run by hand): SmolLM2-135M-Instruct (the registered base, `distillery models add`)
 * with a LoRA adapter trained on bitext v2 accepted answers, served by the adapter server, judged by the embedding
 * judge against the teacher's accepted answers on an unseen eval split, beside the base model without the adapter.
 *
 *   npx tsx bench/student.ts [--intents a,b,c] [--train-per-intent 16] [--eval-per-intent 2] [--epochs 1]
 *                            [--max-length 256] [--max-new-tokens 80] [--latency-requests 3] [--threads 1]
 *
 * Prints the issue's table: judged agreement of the student and of the base; training tokens/s; generation tokens/s
 * at batch 1 and 8 (through the server); p50/p99 latency of a 64-token answer at batch 1; the share of bitext v2
 * traffic the adapter tier would take (the trained intents' share when the student passes the gate's 0.85, else 0)
 * and the cost reduction that brings when an adapter answer costs ~nothing beside a frontier call (an upper bound).
 *
 * Sized for 2 shared cores (≈ 12 minutes when other work shares them; generation at batch 8 ran at ~3 tokens/s
 * there): four intents whose accepted answers are short (so 256 tokens hold a whole example), 16 training and 2 eval
 * examples each, one epoch, answers capped at 80 tokens. Tiny samples: the figures are indicative; the real ones
 * want more data, more steps and a GPU (raise the flags).
 * The judge's calibration is fitted on bitext v2 accepted answers of every intent (same intent agrees, other intents
 * disagree: calibrationSamples), embedded with the local all-MiniLM-L6-v2.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { folderDigest } from '../src/adapters/digest';
import { startAdapterServer } from '../src/adapters/server';
import { studentAnswers } from '../src/adapters/student-answers';
import { loadSharedDataset } from '../src/datasets/shared';
import { chatExample, trainLocally } from '../src/distill/train-local';
import type { TrainerConfig } from '../src/distill/types';
import { LocalOnnxEmbedder } from '../src/embeddings/local';
import { fitCalibration } from '../src/judge/calibration';
import { EmbeddingJudge } from '../src/judge/embedding';
import { type LoggedAnswer, calibrationSamples } from '../src/judge/pairs';
import { DEFAULT_BASE_MODEL, resolveBaseModel } from '../src/models/registry';
import { rng } from '../test/support/rng';

const { values: a } = parseArgs({
  options: {
    intents: { type: 'string', default: 'delivery_period,track_refund,contact_customer_service,check_invoice' },
    'train-per-intent': { type: 'string', default: '16' },
    'eval-per-intent': { type: 'string', default: '2' },
    epochs: { type: 'string', default: '1' },
    'max-length': { type: 'string', default: '256' },
    'max-new-tokens': { type: 'string', default: '80' },
    'latency-requests': { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
  },
});
const intents = a.intents!.split(',');
const nTrain = Number(a['train-per-intent']);
const nEval = Number(a['eval-per-intent']);
const maxLength = Number(a['max-length']);
const maxNew = Number(a['max-new-tokens']);
const ENV = { OMP_NUM_THREADS: a.threads!, MKL_NUM_THREADS: a.threads! };
const SYSTEM = 'You are a helpful customer support assistant.';
const started = Date.now();
const t = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
const quantile = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const rows = loadSharedDataset('bitext-v2');
const next = rng(7);
const shuffled = rows
  .map((r) => ({ r, k: next() }))
  .sort((x, y) => x.k - y.k)
  .map((x) => x.r);
const train: typeof rows = [];
const evalSet: typeof rows = [];
for (const intent of intents) {
  const own = shuffled.filter((r) => r.label === intent && r.answer.length < 600);
  if (own.length < nTrain + nEval) throw new Error(`${intent}: ${own.length} short accepted answers, need ${nTrain + nEval}`);
  evalSet.push(...own.slice(0, nEval));
  train.push(...own.slice(nEval, nEval + nTrain));
}
const base = resolveBaseModel(DEFAULT_BASE_MODEL);
const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-bench-student-'));
console.log(`student bench: ${base.name} (${base.digest?.slice(0, 19)}…), intents ${intents.join(', ')}: ${train.length} train / ${evalSet.length} eval`);

try {
  // --- train
  const config: TrainerConfig = {
    baseModel: base.name,
    ...(base.digest ? { baseModelDigest: base.digest } : {}),
    lora: { r: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
    learningRate: 1e-3,
    epochs: Number(a.epochs),
    maxLength,
    packing: true,
    batchSize: 2,
    gradientAccumulation: 1,
    seed: 1,
    checkpointEvery: 1000,
  };
  const tr = await trainLocally(
    train.map((r) => chatExample(r.query, r.answer, SYSTEM)),
    config,
    work,
    ENV,
  );
  const done = tr.done;
  const out = path.join(work, 'out');
  const metrics = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as { total_steps: number };
  console.log(
    `[${t()}] trained ${metrics.total_steps} steps: loss ${done.first_loss.toFixed(3)} -> ${done.final_loss.toFixed(3)}, ${done.tokens_per_s} tokens/s`,
  );

  // --- serve
  const server = await startAdapterServer({ base: base.name, env: ENV, maxNewTokens: 256, maxBatch: 8, timeoutS: 900 });
  try {
    const adapterDir = path.join(out, 'adapter');
    await server.loadAdapter('bitext-student', adapterDir, await folderDigest(adapterDir));
    const ask = async (model: string, queries: string[], concurrency: number, maxTokens = maxNew) => {
      const t0 = Date.now();
      const r = await studentAnswers({ baseURL: server.baseURL, model, queries, system: SYSTEM, maxTokens, concurrency, timeoutMs: 900_000 });
      const s = (Date.now() - t0) / 1000;
      return { answers: r, seconds: s, tokensPerS: r.reduce((x, y) => x + (y.completionTokens ?? 0), 0) / s };
    };
    const queries = evalSet.map((r) => r.query);
    const student = await ask('bitext-student', queries, 8);
    console.log(`[${t()}] student answered ${queries.length} eval queries (batch 8): ${student.tokensPerS.toFixed(1)} tokens/s`);
    const baseAns = await ask(base.name, queries, 8);
    console.log(`[${t()}] base answered: ${baseAns.tokensPerS.toFixed(1)} tokens/s`);
    const lat: number[] = [];
    let latTokens = 0;
    for (let i = 0; i < Number(a['latency-requests']); i++) {
      const t0 = Date.now();
      const [r] = (await ask('bitext-student', [queries[i % queries.length]!], 1, 64)).answers;
      lat.push((Date.now() - t0) / 1000);
      latTokens += r!.completionTokens ?? 0;
    }
    const b1 = latTokens / lat.reduce((x, y) => x + y, 0);
    console.log(`[${t()}] latency at batch 1: ${lat.map((x) => x.toFixed(1)).join(', ')} s`);

    // --- judge
    const embedder = await LocalOnnxEmbedder.create({ modelDir: 'models', threads: Number(a.threads) });
    const embed = (texts: string[]) => embedder.embed(texts);
    const calibRows = shuffled.filter((r) => !evalSet.includes(r)).slice(0, 1200);
    const vecs = await embed(calibRows.map((r) => r.answer));
    const accepted: LoggedAnswer[] = calibRows.map((r, i) => ({ cluster: r.label, text: r.answer, vec: vecs[i]! }));
    const labels = [...new Set(calibRows.map((r) => r.label))];
    const calibration = fitCalibration(calibrationSamples({ accepted, neighbours: (c) => labels.filter((l) => l !== c), pairsPerCluster: 40 }));
    const judge = new EmbeddingJudge(embed, calibration);
    const agreement = async (ans: Array<{ answer: string }>) => {
      const j = await judge.judge(ans.map((x, i) => ({ query: queries[i]!, candidate: x.answer || ' ', reference: evalSet[i]!.answer })));
      return { mean: j.reduce((s, v) => s + v.pAgree, 0) / j.length, share: j.filter((v) => v.verdict === 'agree').length / j.length };
    };
    const sAg = await agreement(student.answers);
    const bAg = await agreement(baseAns.answers);
    console.log(`[${t()}] judged (calibration ${calibration.id.slice(0, 12)}, AUC ${calibration.auc.toFixed(3)})`);
    console.log(
      `  e.g. student: ${JSON.stringify(student.answers[0]!.answer.slice(0, 160))}\n       accepted: ${JSON.stringify(evalSet[0]!.answer.slice(0, 160))}`,
    );

    const intentShare = rows.filter((r) => intents.includes(r.label)).length / rows.length;
    const passes = sAg.mean >= 0.85;
    const adapterShare = passes ? intentShare : 0;
    const health = await server.health();
    const row = (k: string, v: string, goal: string) => console.log(`| ${k.padEnd(74)} | ${v.padEnd(34)} | ${goal.padEnd(18)} |`);
    console.log(`\n| ${'figure'.padEnd(74)} | ${'value'.padEnd(34)} | ${'goal'.padEnd(18)} |\n|${'-'.repeat(76)}|${'-'.repeat(36)}|${'-'.repeat(20)}|`);
    row('student (SmolLM2-135M + LoRA) judged agreement with accepted answers', `${sAg.mean.toFixed(3)} (agree share ${sAg.share.toFixed(3)})`, '>= 0.85');
    row('base SmolLM2-135M without adapter, same judge', `${bAg.mean.toFixed(3)} (agree share ${bAg.share.toFixed(3)})`, 'printed');
    row('training tokens/s (CPU, fp32, training time only)', `${done.tokens_per_s}`, 'printed');
    row('generation tokens/s at batch 1 (server, 64-token answers)', b1.toFixed(1), 'printed');
    row('generation tokens/s at batch 8 (server, eval answers, student)', student.tokensPerS.toFixed(1), 'printed');
    row(
      'adapter server latency p50 / p99, 64-token answer, batch 1, CPU',
      `${quantile(lat, 0.5).toFixed(2)} s / ${quantile(lat, 0.99).toFixed(2)} s`,
      'printed',
    );
    row(
      'share of bitext v2 traffic the adapter tier takes (trained intents, if gate passes)',
      `${(100 * adapterShare).toFixed(1)}% (intents hold ${(100 * intentShare).toFixed(1)}%)`,
      'printed',
    );
    row('cost reduction it brings (adapter answer ~ free beside the frontier; upper bound)', `${(100 * adapterShare).toFixed(1)}%`, 'printed');
    console.log(
      `\n${train.length} train / ${evalSet.length} eval examples, ${metrics.total_steps} steps, max length ${maxLength}, answers capped at ${maxNew} tokens; base loaded ${health.base_loads}x; ${t()} in all`,
    );
  } finally {
    await server.close();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
