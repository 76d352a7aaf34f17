import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { manifestEvents, manifests, runs } from '../../src/db/schema';
import { buildTinyModel, tinyTrainerConfig } from '../../src/distill/tiny';
import { createEmbedder } from '../../src/embeddings';
import { loadConfig } from '../../src/config';
import { listCandidates } from '../../src/graduation/store';
import { validateManifest } from '../../src/serving/manifest-validate';
import type { Manifest } from '../../src/serving/manifest';
import { Router } from '../../src/router';
import { ensureTenant, setTenantBudget } from '../../src/tenants/store';
import type { RetrainInput } from '../../src/temporal/contract';
import { type Stack, connectStack } from '../support/stack';
import { waitFor, workerProcess } from '../support/workers';
import { decideCandidate, startIngest, startPublish, startRetrain } from '../../src/temporal/starters';

/**
 * The whole monthly retrain on real Temporal, Postgres and S3, with both workers as their own processes:
 * v1 → reviews approve templates (the review publisher publishes v2) → new data → v3 (a worker killed mid-run; still
 * exactly one v3) with stable route ids → rollback to v1 → the router follows each version and resolves accordingly.
 */
const tenant = 'retrain-it';
const work = mkdtempSync(path.join(os.tmpdir(), 'distillery-retrain-'));
let s: Stack;
let cpu: ReturnType<typeof workerProcess>;
let gpu: ReturnType<typeof workerProcess>;
let baseModel: string;

const intents = ['cancel_order', 'track_order', 'get_refund', 'recover_password'];
const all = loadSharedDataset('bitext-v1').filter((e) => intents.includes(e.label));
const firstHalf = all.filter((_, i) => i % 2 === 0);
const secondHalf = all.filter((_, i) => i % 2 === 1);
const answerOf = (label: string) => all.find((e) => e.label === label)!.answer;

beforeAll(async () => {
  s = await connectStack();
  await ensureTenant(s.db, tenant);
  // Half of four intents (~120 queries each): enough held-out evidence for a 10% budget, not the default 1%.
  await setTenantBudget(s.db, tenant, 0.1);
  cpu = workerProcess(s, 'cpu', path.join(work, 'cpu-1'));
  gpu = workerProcess(s, 'gpu', path.join(work, 'gpu'));
  baseModel = await buildTinyModel(all, path.join(work, 'base'), { seed: 1 });
});
afterAll(async () => {
  await Promise.all([cpu?.stop(), gpu?.stop()]);
  await s?.close();
  rmSync(work, { recursive: true, force: true });
});

async function ingest(name: string, rows: typeof all, offset: number) {
  const key = `imports/${tenant}/${name}.jsonl`;
  await s.blob.put(key, rows.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, offset + i), idempotency_key: `rt-${offset + i}` })).join('\n') + '\n');
  return (await startIngest(s.client, s.taskQueue, { tenantId: tenant, source: `s3://${s.stack.bucket}/${key}` }, s.allowedSources)).result();
}

const trainer = () => tinyTrainerConfig(baseModel, { maxSteps: 20, maxLength: 160 });

const input = (): RetrainInput => ({
  tenantId: tenant,
  // The data's timestamps are fixed (October 2026): look back far enough whatever day the test runs.
  lookbackDays: 36_500,
  gpuTaskQueue: s.temporal.gpuTaskQueue,
  graduation: { remindEveryMs: 3_600_000, publishDebounceMs: 1_000 },
  cheap: false,
  // The tiny model cannot match the teacher: a permissive gate lets its adapter through so the adapter tier shows.
  distill: {
    trainer: trainer(),
    maxCategories: 1,
    minShare: 0,
    gate: { minMeanSimilarity: 0, minGainOverBase: -1, minMatchRate: 0, minExamples: 1, minAgreement: 0 },
    maxNewTokens: 24,
  },
});

const published = async () => (await s.db.select().from(manifests).where(eq(manifests.tenantId, tenant))).sort((a, b) => a.version - b.version);
const pointer = async () =>
  JSON.parse((await s.blob.get(`manifests/${tenant}/current.json`)).toString('utf8')) as { version: number; key: string; contentHash: string };
const routeIds = (m: Manifest) => m.routes.map((r) => r.id).sort();

describe('retrain → publish → rollback, read by the router', () => {
  let v1: Manifest;
  let router: Router;

  it('a full retrain publishes manifest v1 with the distilled adapter route, and records each stage', async () => {
    await ingest('first', firstHalf, 0);
    const r = await (await startRetrain(s.client, s.taskQueue, input())).result();
    expect(r.publish, JSON.stringify(r.publish)).toMatchObject({ status: 'published', version: 1 });
    expect(r.adapters).toHaveLength(1);
    expect(r.adapters[0]!.status).toBe('candidate');
    expect(r.candidatesForReview).toBeGreaterThanOrEqual(3);
    const rows = await published();
    expect(rows.map((x) => [x.version, x.status])).toEqual([[1, 'published']]);
    v1 = validateManifest(JSON.parse((await s.blob.get(rows[0]!.key)).toString('utf8')));
    expect(v1).toMatchObject({ tenant, version: 1, previousVersion: null });
    expect(v1.routes.some((x) => x.tier === 'adapter')).toBe(true);
    expect(await pointer()).toMatchObject({ version: 1, contentHash: v1.contentHash });
    const [run] = await s.db.select().from(runs).where(eq(runs.id, r.runId));
    expect(run!.status).toBe('completed');
    expect(Object.keys((run!.stats as { stages: Record<string, unknown> }).stages)).toEqual(
      expect.arrayContaining(['cluster', 'graduate', 'distill', 'tiers', 'publish']),
    );
  });

  it('the router loads v1 through the pointer and resolves', async () => {
    const embedder = await createEmbedder(loadConfig({}).embeddings);
    router = await Router.create({ source: `blob:manifests/${tenant}/current.json`, embedder, blobStore: s.blob });
    expect(router.version).toBe(1);
    const res = await router.resolve('how do i cancel order 4433221?');
    expect(['adapter', 'frontier']).toContain(res.tier);
  });

  it('after reviews approve templates (published as v2 by the review publisher) and new data arrives, a retrain killed mid-run still publishes exactly one v3 with stable route ids', async () => {
    for (const c of await listCandidates(s.db, tenant)) await decideCandidate(s.client, c.id, { action: 'approve', reviewer: 'ana' });
    // The pointer switch (its event) follows the manifest row: wait for the switch.
    await waitFor('the review publish (v2)', async () =>
      (await s.db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenant))).some((e) => e.version === 2) ? true : undefined,
    );
    expect((await s.db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenant))).map((e) => [e.version, e.actor])).toEqual([
      [1, 'retrain'],
      [2, 'review'],
    ]);
    await ingest('second', secondHalf, 100_000);
    const handle = await startRetrain(s.client, s.taskQueue, input());
    // Kill the CPU worker once the run is past clustering (a lost machine: no graceful shutdown), then replace it.
    await waitFor('the cluster stage', async () => {
      const [run] = await s.db
        .select()
        .from(runs)
        .where(and(eq(runs.kind, 'retrain'), eq(runs.workflowId, handle.workflowId), eq(runs.status, 'running')));
      return (run?.stats as { stages?: Record<string, unknown> } | undefined)?.stages?.cluster ? true : undefined;
    });
    cpu.killGroup('SIGKILL');
    await cpu.exited;
    cpu = workerProcess(s, 'cpu', path.join(work, 'cpu-2'));
    const r = await handle.result();
    expect(r.publish, JSON.stringify(r.publish)).toMatchObject({ status: 'published', version: 3 });
    const rows = await published();
    expect(rows.map((x) => x.version)).toEqual([1, 2, 3]);
    const events = await s.db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenant));
    expect(events.filter((e) => e.version === 3 && e.kind === 'publish')).toHaveLength(1);
    const v3 = validateManifest(JSON.parse((await s.blob.get(rows[2]!.key)).toString('utf8')));
    expect(v3.previousVersion).toBe(2);
    // Stable identities: every route v1 served on a cheaper tier is still a route of v3, and nearly all routes are.
    for (const r of v1.routes.filter((x) => x.tier !== 'frontier')) expect(routeIds(v3)).toContain(r.id);
    const kept = routeIds(v1).filter((id) => routeIds(v3).includes(id)).length;
    expect(kept / v1.routes.length).toBeGreaterThanOrEqual(0.9);
    expect(v3.routes.some((x) => x.tier === 'template')).toBe(true);
  }, 300_000);

  it('the router follows v3 and serves the approved template; rollback restores v1 and the router follows it back', async () => {
    expect(await router.refresh()).toMatchObject({ status: 'updated', version: 3 });
    const res = await router.resolve('how do i cancel order 4433221?');
    expect(res.tier).toBe('template');
    expect(res.answer).toBe(answerOf('cancel_order'));

    const rollback = await (await startPublish(s.client, s.taskQueue, { tenantId: tenant, mode: 'rollback', toVersion: 1, actor: 'test' })).result();
    expect(rollback).toMatchObject({ status: 'rolled back', version: 1 });
    expect((await pointer()).version).toBe(1);
    expect(await router.refresh()).toMatchObject({ status: 'rolled-back', version: 1 });
    expect((await router.resolve('how do i cancel order 4433221?')).tier).not.toBe('template');
  });

  it('every published manifest, in Postgres and in the blob store, validates against the JSON Schema', async () => {
    for (const row of await published()) {
      expect(() => validateManifest(row.manifest)).not.toThrow();
      expect(validateManifest(JSON.parse((await s.blob.get(row.key)).toString('utf8'))).contentHash).toBe(row.contentHash);
    }
  });
});
