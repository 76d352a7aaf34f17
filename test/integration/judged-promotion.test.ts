import { and, eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { perturb, reword } from '../../src/datasets/perturb';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { candidateVersions, manifestEvents, manifests, tierEntries } from '../../src/db/schema';
import { createEmbedder } from '../../src/embeddings';
import { loadConfig } from '../../src/config';
import { withServing } from '../../src/graduation/serving';
import { listCandidates } from '../../src/graduation/store';
import { latestRefusal } from '../../src/manifest/store';
import { latestCalibration } from '../../src/judge/store';
import { Router } from '../../src/router';
import type { Manifest } from '../../src/serving/manifest';
import { validateManifest } from '../../src/serving/manifest-validate';
import { setTenantBudget } from '../../src/tenants/store';
import { decideCandidate, startIngest, startRetrain } from '../../src/temporal/starters';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai';
import { useStackWithWorker } from '../support/stack';
import { waitFor } from '../support/workers';

/**
 * Judged promotion on the real stack: a realistic log (a third of the intents answered in four paraphrases, 5% of the
 * accepted answers users' rewordings of what they were given) → retrain → candidates pass the judge → a reviewer
 * approves → the review publisher publishes on its own → the router serves canonical accepted answers. The same
 * retrain's cheap-model trials (a local OpenAI-compatible server plays the cheap model: right for password questions,
 * useless for the rest) put the routes it answers right on the cheap tier and leave the others on the frontier.
 */
const tenant = 'judged-it';
const intents = ['cancel_order', 'track_order', 'get_refund', 'recover_password'];
const log = perturb(loadSharedDataset('bitext-v1').filter((e) => intents.includes(e.label)));
const acceptedOf = new Map(log.map((e) => [e.query, e.answer]));
const labelOf = new Map(log.map((e) => [e.query, e.label]));

let cheap: FakeOpenAI;
const stack = useStackWithWorker(tenant, async () => {
  cheap = await startFakeOpenAI();
  // The cheap model: the accepted answer for password questions, a useless one for everything else.
  cheap.answer = (_model, messages) => {
    const q = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    return labelOf.get(q) === 'recover_password' ? acceptedOf.get(q)! : 'Sorry, I cannot help with that.';
  };
  return { cheapModel: { baseURL: cheap.baseURL, model: 'cheap-mini', timeoutMs: 10_000, maxCostUsd: 5 } };
});

afterAll(async () => {
  await cheap?.close();
});

const published = async () => (await stack().db.select().from(manifests).where(eq(manifests.tenantId, tenant))).sort((a, b) => a.version - b.version);
const manifestOf = async (version: number): Promise<Manifest> => {
  const row = (await published()).find((m) => m.version === version)!;
  return validateManifest(JSON.parse((await stack().blob.get(row.key)).toString('utf8')));
};

describe('judged promotion: realistic log → retrain → judged candidates → approval publishes → router serves', () => {
  it('ingests the log: edits arrive as feedback with the user’s corrected answer', async () => {
    const key = `imports/${tenant}/log.jsonl`;
    const lines = log.map((e, i) => {
      const rec = toLogRecord(e.editedFrom ? { ...e, answer: e.editedFrom } : e, i);
      return JSON.stringify({
        ...rec,
        idempotency_key: `jp-${i}`,
        ...(e.editedFrom ? { feedback: { kind: 'edited', corrected_answer: e.answer } } : {}),
      });
    });
    await stack().blob.put(key, lines.join('\n') + '\n');
    const s = stack();
    const r = await (await startIngest(s.client, s.taskQueue, { tenantId: tenant, source: `s3://${s.stack.bucket}/${key}` }, s.allowedSources)).result();
    expect(r.stored).toBe(log.length);
    expect(log.filter((e) => e.editedFrom).length).toBeGreaterThan(20);
    // ~240 queries an intent, split over several clusters: enough held-out evidence for a 10% budget (the default 1%
    // needs ~300 clean replays in the certifying half alone).
    await setTenantBudget(stack().db, tenant, 0.1);
  });

  let v1: Manifest;

  it('the retrain graduates judged candidates, trials the cheap model, and publishes v1 with cheap routes for what it answers right', async () => {
    const s = stack();
    const r = await (
      await startRetrain(s.client, s.taskQueue, {
        tenantId: tenant,
        lookbackDays: 36_500,
        gpuTaskQueue: s.temporal.gpuTaskQueue,
        graduation: { remindEveryMs: 3_600_000, publishDebounceMs: 1_000 },
        cheap: { minShare: 0, maxRoutes: 4 },
      })
    ).result();
    expect(r.publish).toMatchObject({ status: 'published', version: 1 });
    expect(r.candidatesForReview).toBeGreaterThanOrEqual(2);
    expect(await latestCalibration(s.db, tenant)).toMatchObject({ auc: expect.any(Number) });

    const pending = await listCandidates(s.db, tenant);
    for (const c of pending) {
      // Every candidate's answer is an accepted answer of the log (its canonical), with judged evidence.
      expect(new Set(log.map((e) => e.answer))).toContain(c.template);
      // Admission certified the routes' pooled bound; each candidate's own bound rests on its share of the replays.
      expect(c.precision).toBeGreaterThanOrEqual(0.9);
      expect(c.precisionLowerBound).toBeGreaterThan(0.8);
    }

    v1 = await manifestOf(1);
    expect(v1.judge).toMatchObject({ kind: 'embedding', agreeAt: 0.9 });
    const cheapRoutes = v1.routes.filter((x) => x.tier === 'cheap');
    expect(cheapRoutes.length).toBeGreaterThanOrEqual(1);
    for (const route of cheapRoutes) {
      // Its label is its most typical query: a password (or PIN) recovery question.
      expect(route.label).toMatch(/password|pin|recover/i);
      expect(route.target).toEqual({ model: 'cheap-mini' });
      expect(route.evidence).toMatchObject({ setBy: 'cheap-trial', errors: 0, judge: expect.stringMatching(/^embedding:/) });
    }
    // Routes the cheap model answers uselessly were tried and stay on the frontier.
    // Before any review, the only tier entries are the trials' promotions.
    const entries = await s.db.select().from(tierEntries).where(eq(tierEntries.tenantId, tenant));
    expect(entries.map((e) => e.tier)).toEqual(cheapRoutes.map(() => 'cheap'));
    expect(cheap.chatRequests.length).toBeGreaterThanOrEqual(cheapRoutes.length * 29);
  });

  it('approving the candidates publishes v2 by itself (debounced), and review list says each is served', async () => {
    const s = stack();
    const pending = await listCandidates(s.db, tenant);
    // A reviewer rewords the largest candidate's answer (as users reworded some): string matching would refuse the
    // edit; the tenant's judge re-verifies it on the held-out replays and it is approved.
    const reworded = pending[0]!;
    const edit = reword(reworded.template);
    expect(edit).not.toBe(reworded.template);
    const r = await decideCandidate(s.client, reworded.id, { action: 'approve_with_edits', reviewer: 'ana', template: edit });
    expect(r).toMatchObject({ status: 'approved', version: 2 });
    const [v2] = await s.db
      .select()
      .from(candidateVersions)
      .where(and(eq(candidateVersions.candidateId, reworded.id), eq(candidateVersions.version, 2)));
    expect(v2!.evidence).toMatchObject({ match: 'judged', passed: true, judged: { budget: { maxErrorRate: 0.1 } } });
    expect(v2!.evidence.normalisedRate).toBeLessThan(1);
    for (const c of pending) if (c.id !== reworded.id) await decideCandidate(s.client, c.id, { action: 'approve', reviewer: 'ana' });
    await waitFor(
      'the review publish (v2)',
      async () => {
        const refused = await latestRefusal(s.db, tenant);
        if (refused) throw new Error(`the review publish was refused: ${refused.reasons.join('; ')}`);
        // The switch (its event) follows the manifest row: wait for it, not for the row.
        const switched = await s.db
          .select()
          .from(manifestEvents)
          .where(and(eq(manifestEvents.tenantId, tenant), eq(manifestEvents.version, 2)));
        return switched.length ? true : undefined;
      },
      120_000,
    );
    const [event] = await s.db
      .select()
      .from(manifestEvents)
      .where(and(eq(manifestEvents.tenantId, tenant), eq(manifestEvents.version, 2)));
    expect(event).toMatchObject({ kind: 'publish', actor: 'review' });
    const listed = await withServing(s.db, tenant, await listCandidates(s.db, tenant, { status: 'approved' }));
    expect(listed).toHaveLength(pending.length);
    for (const c of listed) expect(c.serving).toEqual({ served: true, version: 2 });
  });

  it('the router serves the approved canonical answers, each route at its own calibrated threshold', async () => {
    const v2 = await manifestOf(2);
    const templates = v2.routes.filter((x) => x.tier === 'template');
    expect(templates.length).toBeGreaterThanOrEqual(4);
    const thresholds = new Set(templates.map((x) => x.recognise.threshold));
    for (const x of templates) expect(x.evidence).toMatchObject({ judge: expect.stringMatching(/^embedding:/), threshold: x.recognise.threshold });
    expect(thresholds.size).toBeGreaterThan(1);

    const embedder = await createEmbedder(loadConfig({}).embeddings);
    const router = await Router.create({ source: `blob:manifests/${tenant}/current.json`, embedder, blobStore: stack().blob });
    try {
      expect(router.version).toBe(2);
      let served = 0;
      let right = 0;
      const sample = log.filter((_, i) => i % 7 === 0);
      for (const e of sample) {
        const res = await router.resolve(e.query);
        if (res.tier !== 'template') continue;
        served++;
        // The canonical answer of the query's own intent (the log's answers of that intent, any of its paraphrases).
        if (log.some((o) => o.label === e.label && o.answer === res.answer)) right++;
      }
      expect(served / sample.length).toBeGreaterThan(0.3);
      expect(right / served).toBeGreaterThanOrEqual(0.98);
      // A query from no route stays on the model.
      expect((await router.resolve('what is the capital of australia?')).tier).not.toBe('template');
    } finally {
      router.close();
    }
  });
});
