import { latestRefusal } from '../../src/manifest/store';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BlobStore, FsBlobStore } from '../../src/blob';
import { type Db, rowsOf } from '../../src/db/client';
import { clusters, feedback, interactions, manifestEvents, manifests, runs, tierEntries } from '../../src/db/schema';
import { normalizeQuery } from '../../src/serving/normalize';
import { InputError } from '../../src/errors';
import { manifestHash, verifyManifest } from '../../src/serving/manifest-hash';
import { type PublishResult, manifestKey, pointerKey, publishManifest, rollbackManifest } from '../../src/manifest/publish';
import { servedVersion } from '../../src/manifest/store';
import type { Manifest, TemplateTarget } from '../../src/serving/manifest';
import { validateManifest } from '../../src/serving/manifest-validate';
import { Router } from '../../src/router';
import { HashingEmbedder } from '../../src/router/synthetic';
import { ensureTenant } from '../../src/tenants/store';
import { addRouteCluster } from '../support/clusters';
import { createTestDatabase } from '../support/postgres';
import { httpStatusOf } from '../../src/api/errors';
import { DEFAULT_POLICY, isHeldOut } from '../../src/graduation/verify';
import { acceptedInteractionSql } from '../../src/interactions/store';

/**
 * publishManifest / rollbackManifest on a real Postgres database and a blob store in a temp directory. The embedder
 * is the deterministic hashing embedder (same words, same vector): publishing embeds the replayed queries through
 * the embedding cache and routes them with the real resolver, exactly as with the ONNX model.
 */
const tenant = 'publish-it';
const embedder = new HashingEmbedder(64, 'test:hashing');
const clusterRun = 'cr_publish_1';
const GOOD = 'Order {{id}} ships tomorrow.';

let dbh: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
let dir: string;
let blob: BlobStore;

/** Order queries: one cluster, served by a template; refund queries: another cluster, on the frontier. */
const orders = [
  'Where is my order 48213?',
  'where is my order #A-7781',
  'Where is my order 5512?',
  'WHERE IS MY ORDER 90017',
  'where is my order 311?',
  'Where is my order 7000?',
];
const refunds = ['How do I get a refund for my purchase?', 'how do i get a refund for my purchase', 'How do I get a refund for my purchase'];
const orderAnswer = (q: string) => `Order ${normalizeQuery(q).slots[0]!.value} ships tomorrow.`;

const centroidOf = (q: string) => embedder.vector(normalizeQuery(q).text);

async function addInteraction(i: number, query: string, answer: string, fb: { kind: 'accepted' | 'rejected' | 'edited'; corrected?: string }): Promise<void> {
  const [row] = await db
    .insert(interactions)
    .values({
      tenantId: tenant,
      idempotencyKey: `pub-${i}`,
      contentHash: `h${i}`,
      source: 'test',
      occurredAt: new Date(Date.UTC(2026, 9, 1, 0, i)),
      teacherModel: 'gpt-4o',
      messages: [{ role: 'user', content: query }],
      response: { choices: [{ message: { role: 'assistant', content: answer } }] },
      queryText: query,
      answerText: answer,
      promptTokens: 40 + i,
      completionTokens: 12 + i,
    })
    .returning({ id: interactions.id });
  await db.insert(feedback).values({
    tenantId: tenant,
    interactionId: row!.id,
    idempotencyKey: `fb-${i}`,
    contentHash: `f${i}`,
    kind: fb.kind,
    correctedAnswer: fb.corrected ?? null,
    source: 'test',
  });
}

const addCluster = (id: string, query: string, share: number, over: Partial<typeof clusters.$inferInsert> = {}) =>
  addRouteCluster(db, { tenantId: tenant, id, query, centroid: centroidOf(query), embeddingModel: embedder.id, runId: clusterRun, share }, over);

/** Makes `template` the active template for the order route (superseding the one before, as a review would). */
async function setOrderTemplate(template: string, candidateId: string): Promise<void> {
  await db
    .update(tierEntries)
    .set({ status: 'superseded', validTo: new Date() })
    .where(and(eq(tierEntries.routeId, 'c_order'), eq(tierEntries.status, 'active')));
  await db.insert(tierEntries).values({
    tenantId: tenant,
    routeId: 'c_order',
    tier: 'template',
    // As graduation stores it (kind is the tier table's own field).
    target: { candidateId, version: 1, kind: 'template', template, script: null },
    evidence: { precision: 1, coverage: 1, reviewer: 'ana' },
    status: 'active',
  });
}

const publish = (runId: string, store: BlobStore = blob) =>
  publishManifest(db, store, embedder, { tenantId: tenant, runId, actor: 'test', replayShare: 1, heldOutFraction: 1 }); // every row counts as unseen here
const rows = async () => (await db.select().from(manifests).where(eq(manifests.tenantId, tenant))).sort((a, b) => a.version - b.version);
const events = async () => (await db.select().from(manifestEvents).where(eq(manifestEvents.tenantId, tenant))).sort((a, b) => a.id - b.id);
const pointer = async () =>
  JSON.parse((await blob.get(pointerKey(tenant))).toString('utf8')) as { tenant: string; version: number; key: string; contentHash: string };
const objectOf = async (version: number) => validateManifest(JSON.parse((await blob.get(manifestKey(tenant, version))).toString('utf8')));

beforeAll(async () => {
  dbh = await createTestDatabase('publish');
  db = dbh.database.db;
  dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-publish-'));
  blob = new FsBlobStore(dir);
  await ensureTenant(db, tenant);
  await db
    .insert(runs)
    .values({ id: clusterRun, kind: 'cluster', tenantId: tenant, workflowId: 'cluster:publish-it', status: 'completed', finishedAt: new Date() });
  await addCluster('c_order', orders[0]!, 0.6);
  await addCluster('c_refund', refunds[0]!, 0.3);
  // Neither a retired cluster nor one embedded with another model is a route.
  await addCluster('c_retired', 'what are your opening hours', 0.05, { status: 'retired' });
  await addCluster('c_other_model', 'track my parcel please', 0.05, { embeddingModel: 'local:other-model' });

  let i = 0;
  for (const q of orders) await addInteraction(i++, q, orderAnswer(q), { kind: 'accepted' });
  // An edited answer counts with its correction.
  await addInteraction(i++, 'Where is my order 6060?', 'Sorry, I could not find that.', { kind: 'edited', corrected: 'Order 6060 ships tomorrow.' });
  // A rejected answer is not part of the replay (its answer disagrees with the template).
  await addInteraction(i++, 'Where is my order 1234?', 'I have no idea.', { kind: 'rejected' });
  for (const q of refunds) await addInteraction(i++, q, 'Refunds are issued within 5 days.', { kind: 'accepted' });
  await setOrderTemplate(GOOD, 'cand_order_1');
});

afterAll(async () => {
  await dbh?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('publishManifest / rollbackManifest', () => {
  let v1: Manifest;
  let v1Bytes: Buffer;

  it('publishes v1: a published row, a valid object with the row’s hash, the pointer on v1 and one publish event', async () => {
    const r = await publish('retrain-1');
    expect(r.reasons).toEqual([]);
    expect(r).toMatchObject({ status: 'published', version: 1, key: `manifests/${tenant}/v1.json`, reasons: [] });
    const replay = (r as Extract<PublishResult, { status: 'published' }>).replay;
    // Every accepted or edited interaction replayed: 7 order queries on the template (all agreeing), 3 on the frontier.
    expect(replay).toMatchObject({ rows: 10, passed: true, quality: { template: { served: 7, agreed: 7, rate: 1 }, overall: 1 } });
    expect(replay.perTier.template).toMatchObject({ calls: 7, cost: 0 });
    expect(replay.perTier.frontier.calls).toBe(3);
    expect(replay.reduction).toBeGreaterThan(0.5);

    const [row, ...more] = await rows();
    expect(more).toEqual([]);
    expect(row).toMatchObject({ version: 1, runId: 'retrain-1', key: manifestKey(tenant, 1), status: 'published' });

    v1Bytes = await blob.get(manifestKey(tenant, 1));
    v1 = await objectOf(1);
    expect(v1.contentHash).toBe(row!.contentHash);
    expect(manifestHash(v1)).toBe(v1.contentHash);
    expect(() => verifyManifest(v1)).not.toThrow();
    expect(v1).toMatchObject({ tenant, version: 1, previousVersion: null, embedding: { model: embedder.id, dims: 64 }, fallback: { tier: 'frontier' } });
    // Active clusters of the embedder's model only, sorted by id; the order route on its template, the other on the frontier.
    expect(v1.routes.map((x) => [x.id, x.tier])).toEqual([
      ['c_order', 'template'],
      ['c_refund', 'frontier'],
    ]);
    expect(v1.routes[0]!.target).toEqual({ template: GOOD, script: null, candidateId: 'cand_order_1', version: 1 } satisfies TemplateTarget);
    expect(v1.routes[0]!.share).toBe(0.6);
    expect(v1.routes[1]!.target).toEqual({ model: 'gpt-4o' });

    expect(await pointer()).toEqual({ tenant, version: 1, key: manifestKey(tenant, 1), contentHash: v1.contentHash });
    const ev = await events();
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ kind: 'publish', version: 1, fromVersion: null, actor: 'test' });
    expect(await servedVersion(db, tenant)).toBe(1);

    // The router reads it through the pointer and serves the template.
    const router = await Router.create({ source: `blob:${pointerKey(tenant)}`, embedder, blobStore: blob });
    expect(router.version).toBe(1);
    expect(await router.resolve('where is my order 424242?')).toMatchObject({ tier: 'template', routeId: 'c_order', answer: 'Order 424242 ships tomorrow.' });
    expect(await router.resolve('how do I get a refund for my purchase?')).toMatchObject({ tier: 'frontier', routeId: 'c_refund' });
    router.close();
  });

  it('publishing the same run again returns v1 without a new version, event or write', async () => {
    const r = await publish('retrain-1');
    expect(r).toMatchObject({ status: 'published', version: 1, key: manifestKey(tenant, 1) });
    expect((await rows()).map((x) => x.version)).toEqual([1]);
    expect(await events()).toHaveLength(1);
    expect(await blob.get(manifestKey(tenant, 1))).toEqual(v1Bytes);
    expect((await blob.list(`manifests/${tenant}/`)).map((o) => o.key)).toEqual([pointerKey(tenant), manifestKey(tenant, 1)]);
  });

  it('refuses a manifest whose template disagrees with the accepted answers, and writes nothing', async () => {
    await setOrderTemplate('Your parcel {{id}} was lost, sorry.', 'cand_order_bad');
    const r = await publish('retrain-2');
    expect(r.status).toBe('refused');
    expect(r.reasons).toContainEqual(
      expect.stringMatching(/^template answers: 7 of 7 disagree with the accepted ones, at least \d+\.\d\d% wrong \(95% bound\) > the 1\.00% budget$/),
    );
    expect(r.replay.quality.template).toMatchObject({ served: 7, agreed: 0, rate: 0 });
    // The refusal is recorded: `review list` says why an approved candidate is not served.
    expect(await latestRefusal(db, tenant)).toMatchObject({ runId: 'retrain-2', reasons: r.reasons });
    expect((await rows()).map((x) => x.version)).toEqual([1]);
    expect(await blob.stat(manifestKey(tenant, 2))).toBeUndefined();
    expect((await pointer()).version).toBe(1);
    expect(await events()).toHaveLength(1);
    expect(await servedVersion(db, tenant)).toBe(1);
  });

  it('replays only the accepted rows graduation held out (never the ones a template was induced from)', async () => {
    const r = await publishManifest(db, blob, embedder, {
      tenantId: tenant,
      runId: 'retrain-heldout',
      actor: 'test',
      replayShare: 1,
      policy: { minQuality: 2 },
    }); // refused on purpose: writes nothing
    const accepted = rowsOf<{ id: string }>(
      await db.execute(sql`select i.id from interactions i where i.tenant_id = ${tenant} and ${acceptedInteractionSql(sql`i.id`)}`),
    );
    const heldOut = accepted.filter((a) => isHeldOut(a.id, DEFAULT_POLICY.holdoutFraction));
    expect(heldOut.length).toBeLessThan(accepted.length);
    expect(r.replay.rows).toBe(heldOut.length);
  });

  it('rollback to a version that does not exist is a NotFoundError naming toVersion', async () => {
    const err = await rollbackManifest(db, blob, tenant, 7, 'ops').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).field).toBe('toVersion');
    expect(httpStatusOf(err as InputError)).toBe(404);
    expect((err as InputError).message).toMatch(/no published manifest v7/);
    expect(await events()).toHaveLength(1);
    expect((await pointer()).version).toBe(1);
  });

  it('publishes a good v2 after v1, then rollback to v1 moves the pointer back and records it', async () => {
    // Normalises to the accepted answers (trailing punctuation), so it passes, and differs from v1.
    await setOrderTemplate('Order {{id}} ships tomorrow!', 'cand_order_2');
    const r = await publish('retrain-3');
    expect(r).toMatchObject({ status: 'published', version: 2, key: manifestKey(tenant, 2) });
    const v2 = await objectOf(2);
    expect(v2).toMatchObject({ version: 2, previousVersion: 1 });
    expect(v2.contentHash).not.toBe(v1.contentHash);
    expect(await pointer()).toEqual({ tenant, version: 2, key: manifestKey(tenant, 2), contentHash: v2.contentHash });
    expect(await servedVersion(db, tenant)).toBe(2);

    expect(await rollbackManifest(db, blob, tenant, 1, 'ops')).toEqual({ version: 1, from: 2 });
    expect(await pointer()).toEqual({ tenant, version: 1, key: manifestKey(tenant, 1), contentHash: v1.contentHash });
    const ev = await events();
    expect(ev.map((e) => [e.kind, e.version, e.fromVersion, e.actor])).toEqual([
      ['publish', 1, null, 'test'],
      ['publish', 2, 1, 'test'],
      ['rollback', 1, 2, 'ops'],
    ]);
    expect(await servedVersion(db, tenant)).toBe(1);
    // The objects are untouched: v1 is served as it was published, v2 stays for a roll-forward.
    expect(await blob.get(manifestKey(tenant, 1))).toEqual(v1Bytes);
    expect((await objectOf(2)).contentHash).toBe(v2.contentHash);
    expect((await rows()).map((x) => [x.version, x.status])).toEqual([
      [1, 'published'],
      [2, 'published'],
    ]);
    // Rolling back to what is already served changes nothing.
    expect(await rollbackManifest(db, blob, tenant, 1, 'ops')).toEqual({ version: 1, from: 1 });
    expect(await events()).toHaveLength(3);
  });

  it('a crash between writing the object and switching the pointer is finished by the retry, with the same bytes', async () => {
    let failures = 1;
    const puts: string[] = [];
    const crashing: BlobStore = {
      kind: blob.kind,
      uri: (k) => blob.uri(k),
      async put(key: string, body: Buffer | string | Readable, opts?: { contentType?: string }) {
        puts.push(key);
        if (key === pointerKey(tenant) && failures > 0) {
          failures--;
          throw new Error('simulated crash before the pointer switch');
        }
        return blob.put(key, body, opts);
      },
      get: (k) => blob.get(k),
      getRange: (k, s, e) => blob.getRange(k, s, e),
      stat: (k) => blob.stat(k),
      list: (p) => blob.list(p),
      delete: (k) => blob.delete(k),
    };

    await expect(publish('retrain-4', crashing)).rejects.toThrow(/simulated crash/);
    expect(puts).toEqual([manifestKey(tenant, 3), pointerKey(tenant)]);
    // The version is claimed and its object complete, but nothing serves it yet.
    const [, , writing] = await rows();
    expect(writing).toMatchObject({ version: 3, runId: 'retrain-4', status: 'writing' });
    const firstBytes = await blob.get(manifestKey(tenant, 3));
    const v3 = validateManifest(JSON.parse(firstBytes.toString('utf8')));
    expect(v3).toMatchObject({ version: 3, previousVersion: 1, contentHash: writing!.contentHash });
    expect((await pointer()).version).toBe(1);
    expect(await servedVersion(db, tenant)).toBe(1);
    expect(await events()).toHaveLength(3);

    const r = await publish('retrain-4', crashing);
    expect(r).toMatchObject({ status: 'published', version: 3, key: manifestKey(tenant, 3) });
    expect((await blob.get(manifestKey(tenant, 3))).toString('utf8')).toBe(firstBytes.toString('utf8'));
    expect(await pointer()).toEqual({ tenant, version: 3, key: manifestKey(tenant, 3), contentHash: v3.contentHash });
    expect((await rows()).map((x) => [x.version, x.status])).toEqual([
      [1, 'published'],
      [2, 'published'],
      [3, 'published'],
    ]);
    const ev = await events();
    expect(ev.filter((e) => e.version === 3)).toEqual([expect.objectContaining({ kind: 'publish', fromVersion: 1, actor: 'test' })]);
    expect(await servedVersion(db, tenant)).toBe(3);

    // A further retry of the finished run changes nothing.
    expect(await publish('retrain-4', crashing)).toMatchObject({ status: 'published', version: 3 });
    expect(await events()).toHaveLength(4);
    expect((await blob.get(manifestKey(tenant, 3))).toString('utf8')).toBe(firstBytes.toString('utf8'));
  });
});
