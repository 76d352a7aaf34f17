import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ids as workflowIds, type ReviewInput } from '../../src/temporal/contract';
import { buildApi } from '../../src/api/server';
import type { Config } from '../../src/config';
import { candidateVersions, candidates, clusterSnapshots, clusters, reviewDecisions, runs, tierEntries } from '../../src/db/schema';
import type { Example } from '../../src/graduation/induce';
import type { Candidate } from '../../src/graduation/propose';
import { judgedGraduationResult } from '../../src/graduation/judged';
import { candidateId, saveCandidates } from '../../src/graduation/store';
import { type JudgedInput, type JudgedReplay, type JudgedResult, formsTemplate } from '../../src/promotion/judged';
import { verifyCandidate } from '../../src/graduation/verify';
import { createApiKey } from '../../src/keys/store';
import { ensureTenant } from '../../src/tenants/store';
import { useStackWithWorker } from '../support/stack';

/**
 * The review page end to end: real Postgres, Temporal and worker (the review workflow and its activities), the real
 * api on a socket, and Debian's headless Chromium driven by playwright-core. Candidates are recorded as graduation
 * records them (saveCandidates, with evidence from verifyCandidate) and their review workflows started as
 * graduateWorkflow starts them.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const tenant = 'review-it';
const otherTenant = 'review-it-other';
/** A tenant whose one candidate was judged: pooled clusters, two forms, calibrated routes. */
const judgedTenant = 'review-it-judged';
const reviewer = 'Ada Reviewer';
const API: Config['api'] = { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024, batchMaxItems: 10 };
const stack = useStackWithWorker(tenant);
/** For expect.poll: page updates wait on real requests (the default 1 s is tight on a loaded machine). */
const soon = { timeout: 15_000 };

const tag = randomBytes(3).toString('hex');
const clusterIds = { track: `c_${tag}_track`, refund: `c_${tag}_refund`, hours: `c_${tag}_hours`, other: `c_${tag}_other` };
const trackTemplate = 'Your order {{order_id}} is on its way and should arrive within 3 business days.';
const refundAnswer = 'Refunds are issued to the original payment method within 5 business days of receiving the item.';
/** A label with markup: the page must show it as text. */
const refundLabel = 'refund status <img src=x onerror="window.__xss=1"> & "quotes"';

let app: FastifyInstance;
let baseUrl: string;
let key: string;
let otherKey: string;
let ingestKey: string;
let judgedKey: string;
let browser: Browser;
const ids = { track: '', refund: '', hours: '', other: '', judged: '' };
const judgedClusters = { pwd: `c_${tag}_pwd`, pwdEmail: `c_${tag}_pwd_email`, pwdApp: `c_${tag}_pwd_app` };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup (it installs Debian's chromium) or set CHROMIUM_PATH`);
  const { db, client, taskQueue } = stack();
  await ensureTenant(db, otherTenant);
  // Review keys: the reviewer recorded is the key's name.
  key = await createApiKey(db, tenant, { name: reviewer, scopes: ['review'] });
  otherKey = await createApiKey(db, otherTenant, { name: 'Bo Other', scopes: ['review'] });
  ingestKey = await createApiKey(db, tenant, { name: 'checkout-app', scopes: ['ingest'] });

  const mine = await seedRun(tenant, [
    { clusterId: clusterIds.track, label: 'track order', share: 0.31, candidate: trackCandidate(), status: 'passed' },
    { clusterId: clusterIds.refund, label: refundLabel, share: 0.12, candidate: refundCandidate(), status: 'passed' },
    { clusterId: clusterIds.hours, label: 'opening hours', share: 0.05, candidate: hoursCandidate(), status: 'failed' },
  ]);
  ids.track = mine.get(clusterIds.track)!;
  ids.refund = mine.get(clusterIds.refund)!;
  ids.hours = mine.get(clusterIds.hours)!;
  const theirs = await seedRun(otherTenant, [
    { clusterId: clusterIds.other, label: 'other tenant', share: 0.5, candidate: trackCandidate(clusterIds.other), status: 'passed' },
  ]);
  ids.other = theirs.get(clusterIds.other)!;
  await ensureTenant(db, judgedTenant);
  judgedKey = await createApiKey(db, judgedTenant, { name: reviewer, scopes: ['review'] });
  const judged = judgedCandidate();
  const pooled = await seedRun(judgedTenant, [
    {
      clusterId: judgedClusters.pwd,
      label: 'reset password',
      share: 0.2,
      candidate: judged,
      status: 'passed',
      clusters: [
        { clusterId: judgedClusters.pwd, label: 'reset password', share: 0.2, queries: pwdQueries },
        { clusterId: judgedClusters.pwdEmail, label: 'reset password for <EMAIL>', share: 0.06, queries: emailQueries },
        { clusterId: judgedClusters.pwdApp, label: 'reset password in the app', share: 0.01, queries: ['reset password in the app'] },
      ],
    },
  ]);
  ids.judged = pooled.get(judgedClusters.pwd)!;

  for (const [t, id] of [
    [tenant, ids.track],
    [tenant, ids.refund],
    [otherTenant, ids.other],
  ] as const) {
    const args: ReviewInput = { tenantId: t, candidateId: id, remindEveryMs: 24 * 3600_000, expireAfterMs: 14 * 24 * 3600_000 };
    await client.workflow.start('reviewWorkflow', { taskQueue, workflowId: workflowIds.review(id), args: [args] });
  }

  app = await buildApi({ db, api: API, logLevel: 'silent', temporal: { client, taskQueue } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  // Reviews still open would keep their timers on the shared Temporal server; end them.
  for (const id of Object.values(ids)) {
    if (id)
      await stack()
        .client.workflow.getHandle(workflowIds.review(id))
        .terminate('test done')
        .catch(() => {});
  }
});

/** A fresh browser context (empty sessionStorage) with the page open and signed in. */
async function openReview(apiKey = key): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  (page as Page & { jsErrors: string[] }).jsErrors = errors;
  await page.goto(`${baseUrl}/review`);
  await page.locator('#api-key').fill(apiKey);
  await page.locator('#auth-submit').click();
  // Nobody types a name: the page shows the key's.
  await expect.poll(() => page.locator('#whoami-name').textContent(), soon).toBe(reviewer);
  // The queue has loaded (it may be empty).
  await expect.poll(() => page.locator('#queue-message').textContent(), soon).toMatch(/candidate|Nothing|No candidates/);
  return page;
}

const rowIds = (page: Page) => page.locator('[data-testid=candidate-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-candidate-id')));

async function decisionsFor(id: string) {
  return stack().db.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, id));
}

describe('review page', () => {
  it('serves one self-contained page without a key, with a strict CSP', async () => {
    const res = await fetch(`${baseUrl}/review`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[^']+'/);
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\//);
  });

  it('signs in, lists the queue by traffic share with data shown as text, and approves a candidate end to end', async () => {
    const page = await openReview();
    // Only this tenant's pending candidates, largest share first (the failed one and the other tenant's are absent).
    expect(await rowIds(page)).toEqual([ids.track, ids.refund]);
    const first = page.locator(`[data-candidate-id="${ids.track}"]`);
    await expect.poll(() => first.locator('[data-testid=candidate-share]').textContent(), soon).toBe('31.0 %');
    // Markup in data is text: the label shows literally and nothing was injected.
    expect(await page.locator(`[data-candidate-id="${ids.refund}"] [data-testid=candidate-label]`).textContent()).toBe(refundLabel);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
    expect(await page.locator(`[data-candidate-id="${ids.refund}"] [data-testid=candidate-warnings]`).textContent()).toContain('1');
    // The key stays in this tab's sessionStorage.
    expect(await page.evaluate("sessionStorage.getItem('distillery.review.apiKey')")).toBe(key);

    await first.click();
    await expect.poll(() => page.locator('#template').textContent(), soon).toBe(trackTemplate);
    expect(await page.locator('#detail-label').textContent()).toBe('track order');
    expect(await page.locator('[data-testid=metric-precision]').textContent()).toContain('100.0 %');
    expect(await page.locator('[data-testid=metric-coverage]').textContent()).toContain('30 of 30');
    expect(await page.locator('#per-cluster').textContent()).toContain(clusterIds.track);
    const examples = page.locator('[data-testid=example]');
    expect(await examples.count()).toBe(8);
    expect(await page.locator('[data-testid=example][data-agrees="false"]').count()).toBe(0);
    // Normalised agreement (case, trailing period) still shows its word-level difference.
    expect(await page.locator('[data-testid=example-diff] del').count()).toBeGreaterThan(0);
    // "Approve with edits" opens an editor holding the current template.
    await page.locator('#approve-edits').click();
    expect(await page.locator('#edit-template').inputValue()).toBe(trackTemplate);

    await page.locator('#approve').click();
    const outcome = page.locator('#outcome[data-state="ok"]');
    await outcome.waitFor();
    expect(await outcome.getAttribute('data-status')).toBe('approved');
    expect(await page.locator('[data-testid=outcome-status]').textContent()).toBe('approved');
    expect(await outcome.textContent()).toContain(clusterIds.track);
    // The detail reloads with the decision, and the queue drops the candidate.
    await expect.poll(() => page.locator('#detail-status').getAttribute('data-status'), soon).toBe('approved');
    expect(await page.locator('#detail-decision').textContent()).toContain(reviewer);
    expect(await page.locator('#approve').count()).toBe(0);
    await expect.poll(() => rowIds(page), soon).toEqual([ids.refund]);

    // Postgres: the decision with the reviewer, the candidate approved, an active tier entry for its cluster.
    const { db, client } = stack();
    expect(await decisionsFor(ids.track)).toMatchObject([{ decision: 'approve', reviewer, version: 1 }]);
    const [c] = await db.select().from(candidates).where(eq(candidates.id, ids.track));
    expect(c!.status).toBe('approved');
    const entries = await db
      .select()
      .from(tierEntries)
      .where(and(eq(tierEntries.tenantId, tenant), eq(tierEntries.routeId, clusterIds.track), eq(tierEntries.status, 'active')));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ tier: 'template', target: { candidateId: ids.track, version: 1, template: trackTemplate } });
    expect(entries[0]!.evidence).toMatchObject({ reviewer });
    // The review workflow finished with the decision.
    expect(await client.workflow.getHandle(workflowIds.review(ids.track)).result()).toMatchObject({ status: 'approved' });
    expect((page as Page & { jsErrors: string[] }).jsErrors).toEqual([]);
    await page.context().close();
  });

  it('shows the validation error of a reject without a comment (and of a broken edit) and records nothing', async () => {
    const page = await openReview();
    await page.locator(`[data-candidate-id="${ids.refund}"]`).click();
    await expect.poll(() => page.locator('#template').textContent(), soon).toBe(refundAnswer);
    expect(await page.locator('#warnings').textContent()).toContain('mentions a time');

    await page.locator('#reject').click();
    const error = page.locator('#outcome[data-state="error"]');
    await error.waitFor();
    expect(await page.locator('[data-testid=outcome-error]').textContent()).toBe('comment: say why the candidate is rejected');
    expect(await error.textContent()).toContain('HTTP 400');

    // An edit that does not compile: refused by the workflow's activity, shown, nothing recorded.
    await page.locator('#approve-edits').click();
    await page.locator('#edit-template').fill('Refunds take {{#if days}} days.');
    await page.locator('#submit-edits').click();
    await expect.poll(() => page.locator('[data-testid=outcome-error]').textContent(), { timeout: 30_000 }).toMatch(/^template: .*does not compile/);
    expect(await page.locator('#outcome').getAttribute('data-state')).toBe('error');

    const { db, client } = stack();
    expect(await decisionsFor(ids.refund)).toEqual([]);
    const [c] = await db.select().from(candidates).where(eq(candidates.id, ids.refund));
    expect(c).toMatchObject({ status: 'pending_review', currentVersion: 1 });
    expect(await db.select().from(candidateVersions).where(eq(candidateVersions.candidateId, ids.refund))).toHaveLength(1);
    expect(await db.select().from(tierEntries).where(eq(tierEntries.routeId, clusterIds.refund))).toEqual([]);
    expect((await client.workflow.getHandle(workflowIds.review(ids.refund)).describe()).status.name).toBe('RUNNING');
    expect(await rowIds(page)).toContain(ids.refund);
    expect(await page.locator('#detail-status').getAttribute('data-status')).toBe('pending_review');

    // With a comment the same button rejects.
    await page.locator('#comment').fill('the refund window differs by country');
    await page.locator('#reject').click();
    await page.locator('#outcome[data-state="ok"][data-status="rejected"]').waitFor();
    expect(await decisionsFor(ids.refund)).toMatchObject([{ decision: 'reject', reviewer, comment: 'the refund window differs by country' }]);
    expect(await db.select().from(tierEntries).where(eq(tierEntries.routeId, clusterIds.refund))).toEqual([]);
    await expect.poll(() => rowIds(page), soon).toEqual([]);
    expect(await page.locator('#queue-message').textContent()).toBe('Nothing awaits review.');
    await page.context().close();
  });

  it('shows a word diff of the replays a failed candidate got wrong', async () => {
    const page = await openReview();
    await page.locator('#status-filter').selectOption('failed_verification');
    await page.locator(`[data-candidate-id="${ids.hours}"]`).click();
    const wrong = page.locator('[data-testid=example][data-agrees="false"]').first();
    await wrong.waitFor();
    expect(await wrong.locator('[data-testid=example-verdict]').textContent()).toBe('✗ differs');
    // Struck: only in the accepted answer; underlined: only in what the candidate rendered.
    expect(await wrong.locator('del').allTextContents()).toEqual(['8am', '8pm.']);
    expect(await wrong.locator('ins').allTextContents()).toEqual(['9am', '5pm.']);
    expect(await page.locator('[data-testid=example][data-agrees="false"]').count()).toBe(5);
    expect(await page.locator('#reasons').textContent()).toContain('precision');
    expect(await page.locator('#decision-closed').textContent()).toContain('failed verification');
    await page.context().close();
  });

  it('shows a judged candidate: judge and budget, pooled clusters with example queries, forms, route thresholds, replays side by side', async () => {
    const page = await openReview(judgedKey);
    await page.locator(`[data-candidate-id="${ids.judged}"]`).click();
    await expect.poll(() => page.locator('[data-testid=judge-id]').textContent(), soon).toBe('embedding:cal-review-it');
    expect(await page.locator('[data-testid=metric-judge]').textContent()).toContain('calibration AUC 0.962');
    expect(await page.locator('[data-testid=metric-budget]').textContent()).toContain('5.0 %');
    expect(await page.locator('[data-testid=metric-agree-at]').textContent()).toContain('P ≥ 0.950');

    // Every pooled cluster, with its label (as text) and at most 3 of its example queries; one pooled but not served.
    const clusterRows = page.locator('[data-testid=cluster-row]');
    expect(await clusterRows.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cluster-id')))).toEqual([
      judgedClusters.pwd,
      judgedClusters.pwdEmail,
      judgedClusters.pwdApp,
    ]);
    expect(await page.locator('[data-testid=cluster-label]').allTextContents()).toEqual([
      'reset password',
      'reset password for <EMAIL>',
      'reset password in the app',
    ]);
    expect(await clusterRows.nth(0).locator('[data-testid=cluster-examples] li').allTextContents()).toEqual(pwdQueries.slice(0, 3));
    expect(await clusterRows.nth(1).locator('[data-testid=cluster-examples] li').allTextContents()).toEqual(emailQueries.slice(0, 3));
    expect(await clusterRows.nth(2).textContent()).toContain('pooled, not served');
    expect(await clusterRows.nth(0).textContent()).not.toContain('not served');

    // The answer's forms and each served route's calibrated threshold.
    expect(await page.locator('[data-testid=form-template]').allTextContents()).toEqual(pwdForms.map((f) => f.template));
    expect(await page.locator('[data-testid=form-row]').nth(1).textContent()).toContain('email');
    expect(await page.locator('[data-testid=route-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cluster-id')))).toEqual([
      judgedClusters.pwd,
      judgedClusters.pwdEmail,
    ]);
    expect(await page.locator('[data-testid=route-threshold]').allTextContents()).toEqual(['0.620', '0.710']);

    // Held-out replays: rendered beside accepted, the verdict and P(agree); no interleaved word diff.
    const examples = page.locator('[data-testid=example]');
    expect(await examples.count()).toBe(4);
    const wrong = examples.first();
    expect(await wrong.getAttribute('data-agrees')).toBe('false');
    expect(await wrong.locator('[data-testid=example-verdict]').textContent()).toBe('✗ disagrees');
    expect(await wrong.locator('[data-testid=example-p]').textContent()).toBe('P(agree) 0.410');
    expect(await wrong.locator('[data-testid=example-rendered]').textContent()).toBe(pwdForms[0]!.template);
    expect(await wrong.locator('[data-testid=example-accepted]').textContent()).toBe('Please contact support to reset it.');
    const right = examples.nth(1);
    expect(await right.locator('[data-testid=example-verdict]').textContent()).toBe('✓ agrees');
    expect(await right.locator('[data-testid=example-p]').textContent()).toBe('P(agree) 0.993');
    expect(await page.locator('[data-testid=example-diff]').count()).toBe(0);
    expect(await page.locator('#examples del, #examples ins').count()).toBe(0);
    expect(await page.locator('img').count()).toBe(0);
    expect((page as Page & { jsErrors: string[] }).jsErrors).toEqual([]);
    await page.context().close();
  });

  it('refuses a key without the review scope at sign-in, saying how to get one', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${baseUrl}/review`);
    await page.locator('#api-key').fill(ingestKey);
    await page.locator('#auth-submit').click();
    await expect
      .poll(() => page.locator('#auth-error').textContent(), soon)
      .toMatch(/The key "checkout-app" cannot review \(its scopes: ingest\).*--scopes review/);
    expect(await page.locator('#app').isHidden()).toBe(true);
    await context.close();
  });
});

describe('review API', () => {
  const call = (path: string, k: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${baseUrl}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${k}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    });

  it("a key sees only its own tenant's candidates, and cannot decide another tenant's", async () => {
    const all = (await (await call('/v1/review/candidates?status=all', key)).json()) as { candidates: Array<{ id: string; status: string }> };
    expect(all.candidates.map((c) => c.id)).toEqual([ids.track, ids.refund, ids.hours]);
    const theirs = (await (await call('/v1/review/candidates', otherKey)).json()) as { candidates: Array<{ id: string }> };
    expect(theirs.candidates.map((c) => c.id)).toEqual([ids.other]);

    const detail = await call(`/v1/review/candidates/${ids.other}`, key);
    expect(detail.status).toBe(404);
    expect(((await detail.json()) as { error: { field: string } }).error.field).toBe('candidate');
    const decide = await call(`/v1/review/candidates/${ids.other}/decision`, key, { method: 'POST', body: { action: 'approve' } });
    expect(decide.status).toBe(404);
    expect(await decisionsFor(ids.other)).toEqual([]);

    const own = (await (await call(`/v1/review/candidates/${ids.other}`, otherKey)).json()) as {
      candidate: { id: string; status: string };
      versions: Array<{ evidence: { examples: object[] } }>;
      decision: unknown;
    };
    expect(own.candidate).toMatchObject({ id: ids.other, status: 'pending_review' });
    expect(own.versions).toHaveLength(1);
    expect(own.decision).toBeNull();
    // Replay rows carry interaction ids in the database, never in the API (ids come from one global sequence).
    const [stored] = await stack().db.select().from(candidateVersions).where(eq(candidateVersions.candidateId, ids.other));
    expect((stored!.evidence as { examples: Array<{ id?: number }> }).examples[0]!.id).toEqual(expect.any(Number));
    expect(own.versions[0]!.evidence.examples.length).toBeGreaterThan(0);
    expect(own.versions[0]!.evidence.examples.filter((e) => 'id' in e)).toEqual([]);
  });

  it("a candidate's detail names its clusters (label, up to 3 example queries) and a judged candidate's judged evidence", async () => {
    const res = await call(`/v1/review/candidates/${ids.judged}`, judgedKey);
    expect(res.status).toBe(200);
    const d = (await res.json()) as {
      clusters: Array<{ clusterId: string; label: string; examples: string[]; serves: boolean }>;
      versions: Array<{ evidence: { match: string; judged: { routes: Array<{ clusterId: string; threshold: number }>; pooled: string[] } } }>;
    };
    expect(d.clusters).toEqual([
      { clusterId: judgedClusters.pwd, label: 'reset password', share: 0.2, examples: pwdQueries.slice(0, 3), serves: true },
      { clusterId: judgedClusters.pwdEmail, label: 'reset password for <EMAIL>', share: 0.06, examples: emailQueries.slice(0, 3), serves: true },
      { clusterId: judgedClusters.pwdApp, label: 'reset password in the app', share: 0.01, examples: ['reset password in the app'], serves: false },
    ]);
    expect(d.versions[0]!.evidence.match).toBe('judged');
    expect(d.versions[0]!.evidence.judged.routes.map((r) => r.threshold)).toEqual([0.62, 0.71]);
    const plain = (await (await call(`/v1/review/candidates/${ids.other}`, otherKey)).json()) as { clusters: Array<{ clusterId: string; examples: string[] }> };
    expect(plain.clusters).toMatchObject([{ clusterId: clusterIds.other, serves: true }]);
    expect(plain.clusters[0]!.examples).toHaveLength(1);
  });

  it('answers decisions on decided candidates with 409, and a bad status filter with 400', async () => {
    const again = await call(`/v1/review/candidates/${ids.track}/decision`, key, { method: 'POST', body: { action: 'reject', comment: 'too late' } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { field: string } }).error.field).toBe('candidate');
    const bad = await call('/v1/review/candidates?status=nope', key);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('status');
    const noKey = await fetch(`${baseUrl}/v1/review/candidates`);
    expect(noKey.status).toBe(401);
  });

  it('records the key as reviewer: a reviewer in the body is refused, an ingest key cannot review', async () => {
    const forged = await call(`/v1/review/candidates/${ids.other}/decision`, otherKey, {
      method: 'POST',
      body: { action: 'approve', reviewer: 'Someone Else' },
    });
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as { error: { field: string; message: string } }).error).toEqual({
      field: 'reviewer',
      message: 'not accepted: the reviewer is the name of your API key ("Bo Other"); drop the field',
    });
    const ingest = await call(`/v1/review/candidates/${ids.other}/decision`, ingestKey, { method: 'POST', body: { action: 'approve' } });
    expect(ingest.status).toBe(403);
    expect(await decisionsFor(ids.other)).toEqual([]);
    expect((await call('/v1/review/candidates', ingestKey)).status).toBe(403);
  });
});

// --- fixtures ----------------------------------------------------------------------------------------------------------

interface Seed {
  clusterId: string;
  label: string;
  share: number;
  candidate: Candidate;
  status: 'passed' | 'failed';
  /** The run's clusters of this seed (default: one, `clusterId`), each with its representative queries. */
  clusters?: Array<{ clusterId: string; label: string; share: number; queries: string[] }>;
}

/** A completed clustering run with its clusters and snapshots, and its candidates recorded by saveCandidates. */
async function seedRun(tenantId: string, seeds: Seed[]): Promise<Map<string, string>> {
  const { db } = stack();
  const runId = `cluster-${tenantId}-${tag}`;
  const centroid = Buffer.from(new Float32Array(4).fill(0.5).buffer);
  await db.insert(runs).values({ id: runId, kind: 'cluster', tenantId, workflowId: `cluster:${tenantId}:${tag}`, status: 'completed', finishedAt: new Date() });
  const seeded = seeds.flatMap(
    (s) => s.clusters ?? [{ clusterId: s.clusterId, label: s.label, share: s.share, queries: [s.candidate.evidence.examples[0]!.query] }],
  );
  for (const s of seeded) {
    await db.insert(clusters).values({
      id: s.clusterId,
      tenantId,
      status: 'active',
      label: s.label,
      keywords: s.label.split(' ').slice(0, 2),
      embeddingModel: 'test',
      centroid,
      firstRunId: runId,
      lastRunId: runId,
    });
    await db.insert(clusterSnapshots).values({
      runId,
      clusterId: s.clusterId,
      size: Math.round(s.share * 1000),
      distinctQueries: 40,
      share: s.share,
      cohesion: 0.8,
      label: s.label,
      keywords: s.label.split(' ').slice(0, 2),
      representatives: s.queries.map((text, i) => ({ text, count: 5 - i })),
      centroid,
    });
  }
  const byCluster = new Map(seeded.map((s) => [s.clusterId, s]));
  const pending = await saveCandidates(db, {
    tenantId,
    clusterRunId: runId,
    passed: seeds.filter((s) => s.status === 'passed').map((s) => s.candidate),
    failed: seeds.filter((s) => s.status === 'failed').map((s) => s.candidate),
    shareOf: (id) => byCluster.get(id)!.share,
    labelOf: (id) => byCluster.get(id)!.label,
  });
  const out = new Map(seeds.map((s) => [s.clusterId, candidateId(tenantId, runId, s.candidate.proposal)]));
  expect(pending.map((p) => p.id)).toEqual(seeds.filter((s) => s.status === 'passed').map((s) => out.get(s.clusterId)));
  return out;
}

function candidate(clusterId: string, proposal: Candidate['proposal'], holdout: Example[], warnings: string[] = []): Candidate {
  const evidence = verifyCandidate({ proposal, holdout, warnings });
  return {
    proposal,
    clusterIds: [clusterId],
    evidence,
    perCluster: [{ clusterId, examples: holdout.length * 3, support: proposal.support, heldOut: evidence.heldOut, agreed: evidence.agreed }],
  };
}

/** 30 held-out orders, all agreeing; every third accepted answer differs only in case and the final period. */
function trackCandidate(clusterId = clusterIds.track): Candidate {
  const holdout = Array.from({ length: 30 }, (_, i): Example => {
    const id = String(1000 + i * 7);
    const answer = trackTemplate.replace('{{order_id}}', id);
    return { id: i + 1, query: `where is my order ${id}?`, slots: { order_id: id }, answer: i % 3 === 0 ? answer.toLowerCase().replace(/\.$/, '') : answer };
  });
  return candidate(clusterId, { kind: 'template', template: trackTemplate, script: null, support: 0.94 }, holdout);
}

function refundCandidate(): Candidate {
  const holdout = Array.from({ length: 30 }, (_, i): Example => ({
    id: 100 + i,
    query: `when do I get my refund for return ${i}?`,
    slots: {},
    answer: refundAnswer,
  }));
  return candidate(clusterIds.refund, { kind: 'constant', template: refundAnswer, script: null, support: 0.9 }, holdout, [
    'the answer mentions a time ("5 business days"): check it holds for every customer',
  ]);
}

/** Opening hours changed mid-period: a quarter of the accepted answers disagree with the constant. */
function hoursCandidate(): Candidate {
  const old = 'We are open Monday to Friday, 9am to 5pm.';
  const holdout = Array.from({ length: 20 }, (_, i): Example => ({
    id: 200 + i,
    query: `opening hours ${i}`,
    slots: {},
    answer: i % 4 === 0 ? 'We are open Monday to Friday, 8am to 8pm.' : old,
  }));
  return candidate(clusterIds.hours, { kind: 'constant', template: old, script: null, support: 0.7 }, holdout);
}

const pwdQueries = ['how do I reset my password', 'forgot my password', 'password reset please', 'cannot log in, reset password'];
const emailQueries = ['reset the password of ana@example.com', 'password reset for bo@example.com', 'new password for cy@example.com', 'reset dee@example.com'];
const pwdForms = [
  { template: 'To reset your password, open Settings > Security and choose "Reset password".', slots: [], support: 40, clusterIds: [judgedClusters.pwd] },
  {
    template: 'To reset the password of {{email}}, open Settings > Security and choose "Reset password".',
    slots: ['email'],
    support: 12,
    clusterIds: [judgedClusters.pwdEmail],
  },
];

/**
 * A judged candidate as graduation records it (judgedGraduationResult, the adapter graduateRun uses): three pooled
 * clusters, two forms (constant and slotted), two routes admitted with calibrated thresholds, and held-out replays
 * the judge scored (one reworded accepted answer disagrees).
 */
function judgedCandidate(): Candidate {
  const replay = (id: number, query: string, rendered: string, accepted: string, pAgree: number): JudgedReplay => ({
    id,
    query,
    routedTo: judgedClusters.pwd,
    similarity: 0.8,
    accepted,
    rendered,
    pAgree,
    agrees: pAgree >= 0.95,
    split: 'calibration',
  });
  const constant = pwdForms[0]!.template;
  const rows = [
    replay(301, 'cannot log in, reset password', constant, 'Please contact support to reset it.', 0.41),
    replay(302, 'forgot my password', constant, 'To reset your password, go to Settings > Security and pick "Reset password".', 0.993),
    replay(303, 'password reset please', constant, constant, 1),
    replay(
      304,
      'reset the password of ana@example.com',
      pwdForms[1]!.template.replace('{{email}}', 'ana@example.com'),
      pwdForms[1]!.template.replace('{{email}}', 'ana@example.com'),
      1,
    ),
  ];
  const budget = { maxErrorRate: 0.05, confidence: 0.95, method: 'clopper-pearson' as const };
  const result: JudgedResult = {
    calibration: {
      features: [],
      weights: [],
      bias: 0,
      steps: { score: [], p: [] },
      counts: { positives: 10, negatives: 10, bySource: {} },
      auc: 0.962,
      id: 'cal-review-it',
    },
    budget,
    candidates: [
      {
        clusterIds: [judgedClusters.pwd, judgedClusters.pwdEmail, judgedClusters.pwdApp],
        forms: pwdForms,
        template: formsTemplate(pwdForms),
        routes: [
          { clusterId: judgedClusters.pwd, threshold: 0.62, n: 30, errors: 1 },
          { clusterId: judgedClusters.pwdEmail, threshold: 0.71, n: 12, errors: 0 },
        ],
        replay: rows,
        routed: 44,
        served: 42,
        wrong: 1,
        normalisedAgreed: 30,
        foreign: { served: 0, wrong: 0, examples: [] },
        passed: true,
        reasons: [],
      },
    ],
    clusters: [],
    admission: { level: 0.05, pooled: { ok: true, bound: 0.04, errors: 1, n: 42, rate: 1 / 42, budget } },
    families: 3,
  };
  const input: JudgedInput = {
    clusters: [],
    train: pwdQueries.map((query, i) => ({ id: 400 + i, clusterId: judgedClusters.pwd, query, slots: {}, answer: constant })),
    heldOut: [],
    budget,
  };
  return judgedGraduationResult(result, input).passed[0]!;
}
