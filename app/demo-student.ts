import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { folderDigest } from '../src/adapters/digest';
import { startAdapterServer } from '../src/adapters/server';
import { studentAnswers } from '../src/adapters/student-answers';
import { loadSharedDataset } from '../src/datasets/shared';
import { chatExample, trainLocally } from '../src/distill/train-local';
import { DEFAULT_BASE_MODEL, addBaseModel } from '../src/models/registry';
import type { AdapterTarget } from '../src/serving/manifest';

const SYSTEM = 'You are a helpful customer support assistant.';

/**
 * `distillery demo --student`: a real student serving through the adapter server, on the CPU in a few minutes.
 * Registers SmolLM2-135M-Instruct (idempotent), trains a LoRA adapter on one bitext v2 intent's accepted answers,
 * starts the adapter server, and calls the adapter route the way a router does: the manifest's AdapterTarget
 * (model name on the server, base and adapter digests) through the OpenAI client, beside the base alone.
 */
export async function runStudentDemo(opts: { intent?: string; steps?: number } = {}): Promise<void> {
  const step = (s: string) => console.log(`\n== ${s}`);
  const intent = opts.intent ?? 'track_refund';
  // One thread unless told: on shared cores two OpenMP threads can spin far slower than one.
  const env = { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1', MKL_NUM_THREADS: process.env.MKL_NUM_THREADS ?? '1' };
  const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-demo-student-'));
  try {
    step(`base model ${DEFAULT_BASE_MODEL}`);
    const base = await addBaseModel(DEFAULT_BASE_MODEL);
    console.log(`   ${base.name} ${base.digest}\n   from ${base.source}`);

    const rows = loadSharedDataset('bitext-v2').filter((r) => r.label === intent && r.answer.length < 600);
    const [heldOut, train] = [rows.slice(0, 2), rows.slice(2, 26)];
    step(`training a LoRA adapter on ${train.length} accepted answers of "${intent}" (CPU, ${opts.steps ?? 8} steps)`);
    const t0 = Date.now();
    const trained = await trainLocally(
      train.map((r) => chatExample(r.query, r.answer, SYSTEM)),
      {
        baseModel: base.name,
        baseModelDigest: base.digest,
        lora: { r: 16, alpha: 32, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] },
        learningRate: 1e-3,
        epochs: 1,
        maxSteps: opts.steps ?? 8,
        maxLength: 256,
        packing: true,
        batchSize: 2,
        gradientAccumulation: 1,
        seed: 1,
        checkpointEvery: 1000,
      },
      work,
      env,
    );
    console.log(
      `   loss ${trained.done.first_loss.toFixed(3)} -> ${trained.done.final_loss.toFixed(3)} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${trained.done.tokens_per_s} tokens/s)`,
    );

    step('starting the adapter server (one base, adapters by name)');
    const server = await startAdapterServer({ base: base.name, env, maxNewTokens: 128 });
    try {
      const adapterDigest = await folderDigest(trained.adapterDir);
      const route: AdapterTarget = {
        adapter: `demo-${intent.replace(/_/g, '-')}`,
        baseModel: base.name,
        baseModelDigest: base.digest,
        adapterDigest,
        uri: `file://${trained.adapterDir}/`,
      };
      await server.loadAdapter(route.adapter, trained.adapterDir, adapterDigest);
      console.log(`   ${server.baseURL}; the route's target, as the manifest carries it:\n   ${JSON.stringify(route)}`);

      step('routing two held-out queries to the adapter route (OpenAI client) and, for contrast, to the base alone');
      const queries = heldOut.map((r) => r.query);
      const [student, plain] = await Promise.all([
        studentAnswers({ baseURL: server.baseURL, model: route.adapter, queries, system: SYSTEM, maxTokens: 64 }),
        studentAnswers({ baseURL: server.baseURL, model: base.name, queries, system: SYSTEM, maxTokens: 64 }),
      ]);
      heldOut.forEach((r, i) => {
        console.log(`\n   query:    ${r.query}`);
        console.log(`   adapter:  ${student[i]!.answer.slice(0, 240)}`);
        console.log(`   base:     ${plain[i]!.answer.slice(0, 240)}`);
        console.log(`   accepted: ${r.answer.slice(0, 240)}`);
      });
      const h = await server.health();
      console.log(`\n   server: base loaded ${h.base_loads}x, adapters ${h.adapters.join(', ')}`);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
