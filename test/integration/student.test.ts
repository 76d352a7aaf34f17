import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportAdapters, type ExportableAdapter } from '../../src/adapters/export';
import { folderDigest } from '../../src/adapters/digest';
import { type AdapterServer, serveRegisteredAdapters, startAdapterServer } from '../../src/adapters/server';
import { studentAnswers } from '../../src/adapters/student-answers';
import { loadSharedDataset } from '../../src/datasets/shared';
import { servableAdapters } from '../../src/adapters/registered';
import { adapterPrefix, uploadDir } from '../../src/distill/blob-dirs';
import { registerAdapter, saveDataset, startJob } from '../../src/distill/store';
import { startRun } from '../../src/runs/store';
import { ensureTenant } from '../../src/tenants/store';
import { TRAINER_PYTHON, trainerEnv } from '../../src/distill/python';
import { chatExample, trainLocally } from '../../src/distill/train-local';
import type { TrainerConfig } from '../../src/distill/types';
import { DEFAULT_BASE_MODEL, resolveBaseModel } from '../../src/models/registry';
import { connectStack } from '../support/stack';

/**
 * A real student end to end on the CPU: SmolLM2-135M-Instruct (the registered base scripts/setup builds) trained
 * for a few LoRA steps on real customer-support answers (the loss falls), its adapter and an earlier checkpoint's
 * uploaded to the blob store and served by digest from one adapter server, which answers OpenAI chat requests for
 * both through the real `openai` client (plain and streamed), found through the adapter registry (candidate adapters of that base) without loading the base twice; the vLLM export's
 * adapter loads with PeftModel.from_pretrained from its portable config alone.
 */
type Stack = Awaited<ReturnType<typeof connectStack>>;
let s: Stack;
let work: string;
let server: AdapterServer | undefined;
const tenant = `student-it-${randomBytes(4).toString('hex')}`;
// One thread: on a small shared VM two OpenMP threads are at times far slower (spinning on a busy vCPU).
const ENV = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
const SYSTEM = 'You are a helpful customer support assistant.';

beforeAll(async () => {
  s = await connectStack();
  work = mkdtempSync(path.join(os.tmpdir(), 'distillery-student-'));
});
afterAll(async () => {
  await server?.close();
  await s?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('real student: SmolLM2-135M-Instruct + LoRA, adapter server', () => {
  const adapters: ExportableAdapter[] = [];

  it('trains a few steps on the CPU: the loss falls; the adapter names its base portably', async () => {
    const base = resolveBaseModel(DEFAULT_BASE_MODEL); // throws with `distillery models add …` when setup did not build it
    expect(base.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // short answers, so 256 tokens hold whole examples (packed two or three to a block) and each step is a second or two on 2 cores
    const rows = loadSharedDataset('bitext-v2')
      .filter((r) => r.label === 'track_order' && r.answer.length < 400)
      .slice(0, 6);
    expect(rows.length).toBe(6);
    const config: TrainerConfig = {
      baseModel: DEFAULT_BASE_MODEL,
      baseModelDigest: base.digest,
      lora: { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] },
      learningRate: 2e-3,
      epochs: 1,
      maxSteps: 4,
      maxLength: 256,
      packing: true,
      batchSize: 1,
      gradientAccumulation: 1,
      seed: 3,
      checkpointEvery: 2,
    };
    const r = await trainLocally(
      rows.map((x) => chatExample(x.query, x.answer, SYSTEM)),
      config,
      work,
      ENV,
    );
    const out = path.join(work, 'out');
    const { done, losses } = r;
    expect(losses).toHaveLength(4);
    expect(done.final_loss).toBeLessThan(done.first_loss);
    console.log(`[student] 4 steps: loss ${losses.map((l) => l.toFixed(3)).join(' → ')}, ${done.tokens_per_s} tokens/s`);

    const adapterConfig = JSON.parse(readFileSync(path.join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(adapterConfig.base_model_name_or_path).toBe(DEFAULT_BASE_MODEL); // never this machine's path
    expect(JSON.parse(readFileSync(path.join(out, 'adapter', 'distillery_base.json'), 'utf8'))).toEqual({ name: DEFAULT_BASE_MODEL, digest: base.digest });

    // Two adapters on the same base, registered as the gate registers them (the final one and the step-2
    // checkpoint's, each its own job): files in the blob store under the job's adapter prefix, digest in the metrics.
    await ensureTenant(s.db, tenant);
    await startRun(s.db, { id: `${tenant}-run`, kind: 'cluster', tenantId: tenant, workflowId: `${tenant}-wf`, params: {} as never });
    const datasetId = `ds_${tenant}`;
    await saveDataset(s.db, {
      id: datasetId,
      tenantId: tenant,
      clusterRunId: `${tenant}-run`,
      clusterIds: ['c1'],
      card: {} as never,
      trainKey: 'x',
      evalKey: 'y',
    });
    for (const [name, dir] of [
      ['track-order-final', path.join(out, 'adapter')],
      ['track-order-step2', path.join(out, 'checkpoints', 'step-2', 'adapter')],
    ] as const) {
      const jobId = `ft_${name}-${tenant}`;
      await startJob(s.db, { id: jobId, tenantId: tenant, datasetId, runner: 'local', config, workflowId: `${tenant}-wf` });
      await uploadDir(s.blob, dir, adapterPrefix(jobId));
      const metrics = { adapterDigest: await folderDigest(dir) };
      await registerAdapter(
        s.db,
        {
          id: `ad_${name}-${tenant}`,
          tenantId: tenant,
          jobId,
          datasetId,
          name,
          baseModel: config.baseModel,
          uri: s.blob.uri(`${adapterPrefix(jobId)}/`),
          status: 'candidate',
          evaluation: {} as never,
          lineage: { clusterRunId: `${tenant}-run`, clusterIds: ['c1'], datasetId, jobId, runner: 'local', config, metrics },
        },
        { metrics, adapterKey: adapterPrefix(jobId) },
      );
    }
    adapters.push(...(await servableAdapters(s.db, tenant, DEFAULT_BASE_MODEL)).sort((x, y) => x.name.localeCompare(y.name)));
    expect(adapters.map((x) => [x.name, x.baseModelDigest])).toEqual([
      ['track-order-final', base.digest],
      ['track-order-step2', base.digest],
    ]);
    expect(adapters[0]!.adapterDigest).not.toBe(adapters[1]!.adapterDigest);
  }, 240_000);

  it('the adapter server answers OpenAI chat requests for both adapters over one loaded base', async () => {
    expect(adapters).toHaveLength(2);
    server = await startAdapterServer({ base: DEFAULT_BASE_MODEL, env: ENV, maxNewTokens: 64 });
    const cache = path.join(work, 'cache');
    expect(await serveRegisteredAdapters(server, s.blob, adapters, cache)).toEqual(['track-order-final', 'track-order-step2']);

    const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'unused', timeout: 120_000, maxRetries: 1 });
    const models = (await client.models.list()).data.map((m) => m.id).sort();
    expect(models).toEqual([DEFAULT_BASE_MODEL, 'track-order-final', 'track-order-step2'].sort());

    const query = 'where is my order #12345?';
    const first = await client.chat.completions.create({
      model: 'track-order-final',
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: query },
      ],
      max_tokens: 12,
      temperature: 0,
    });
    expect(first.model).toBe('track-order-final');
    expect(first.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(first.usage!.completion_tokens).toBeGreaterThan(0);
    expect(first.usage!.completion_tokens).toBeLessThanOrEqual(12);

    // the second adapter, streamed: chunks of text, then a finish reason
    const stream = await client.chat.completions.create({
      model: 'track-order-step2',
      messages: [{ role: 'user', content: query }],
      max_tokens: 8,
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(finish);

    // the replay's entry point: answers in order through the same client, for the final adapter
    const answers = await studentAnswers({ baseURL: server.baseURL, model: 'track-order-final', queries: [query], system: SYSTEM, maxTokens: 12 });
    expect(answers.map((a) => a.answer)).toEqual([first.choices[0]!.message.content]); // greedy: the same answer

    const health = await server.health();
    expect(health.base_loads).toBe(1); // both adapters served without reloading the base
    expect(health.adapters).toEqual(['track-order-final', 'track-order-step2']);

    // an unknown adapter is a clear 404 in OpenAI's error shape
    const err = await client.chat.completions.create({ model: 'no-such-adapter', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).message).toMatch(/no-such-adapter/);
  }, 240_000);

  it('a vLLM export: adapter folders + lora-modules mapping; PeftModel.from_pretrained loads one from its portable config', async () => {
    const outDir = path.join(work, 'export');
    const r = await exportAdapters(s.blob, adapters, 'vllm', outDir, path.join(work, 'cache'));
    const modules = JSON.parse(readFileSync(path.join(outDir, 'lora-modules.json'), 'utf8'));
    expect(modules).toEqual(adapters.map((a) => ({ name: a.name, path: `adapters/${a.name}`, base_model_name: DEFAULT_BASE_MODEL })));
    expect(readFileSync(path.join(outDir, 'serve-vllm.sh'), 'utf8')).toMatch(/--enable-lora/);
    // Only the adapter folder and the registry: the base comes from its portable name, not a path the trainer had.
    const py = [
      'import json, sys, torch',
      "sys.path.insert(0, 'scripts/trainer')",
      'from base_models import resolve_base',
      'from peft import PeftModel',
      'from transformers import AutoModelForCausalLM',
      'd = sys.argv[1]',
      "name = json.load(open(d + '/adapter_config.json'))['base_model_name_or_path']",
      'folder, ident = resolve_base(name)',
      'm = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), d)',
      'x = m(input_ids=torch.tensor([[1, 2, 3]])).logits',
      "print(json.dumps({'base': ident['name'], 'adapters': list(m.peft_config), 'vocab': x.shape[-1]}))",
    ].join('\n');
    const p = spawnSync(TRAINER_PYTHON, ['-c', py, r.dirs['track-order-final']!], { env: trainerEnv(process.env, ENV), encoding: 'utf8', timeout: 120_000 });
    expect(p.status, p.stderr.slice(-1500)).toBe(0);
    expect(JSON.parse(p.stdout.trim().split('\n').at(-1)!)).toEqual({ base: DEFAULT_BASE_MODEL, adapters: ['default'], vocab: 49152 });
  }, 180_000);
});
