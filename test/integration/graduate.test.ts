import { and, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { loadSharedDataset, toLogRecord } from '../../src/datasets/shared';
import { candidates, candidateVersions, reviewDecisions, tierEntries } from '../../src/db/schema';
import { InputError } from '../../src/errors';
import { listCandidates } from '../../src/graduation/store';
import { setTenantBudget } from '../../src/tenants/store';
import { ids } from '../../src/temporal/contract';
import { decideCandidate, startClustering, startGraduation, startIngest } from '../../src/temporal/starters';
import { useStackWithWorker } from '../support/stack';
import { httpStatusOf } from '../../src/api/errors';

const tenant = 'graduate-it';
const stack = useStackWithWorker(tenant);

/** Canned-answer customer-support log (bitext v1); labels only choose the data and check the outcome. */
const intents = ['cancel_order', 'track_order', 'get_refund', 'newsletter_subscription', 'recover_password'];
const examples = loadSharedDataset('bitext-v1').filter((e) => intents.includes(e.label));
const answerOf = (label: string) => examples.find((e) => e.label === label)!.answer;

async function decideError(candidateId: string, decision: unknown): Promise<InputError> {
  const err = await decideCandidate(stack().client, candidateId, decision).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

const statusOf = async (id: string) => (await stack().db.select({ s: candidates.status }).from(candidates).where(eq(candidates.id, id)))[0]!.s;

describe('graduation: ingest → cluster → graduate → review', () => {
  let clusterRunId: string;
  let pending: Awaited<ReturnType<typeof listCandidates>>;

  it('graduates clusters of canned answers into verified candidates, each with a running review', async () => {
    const key = 'imports/graduate-it/log.jsonl';
    await stack().blob.put(key, examples.map((ex, i) => JSON.stringify({ ...toLogRecord(ex, i), idempotency_key: `g-${i}` })).join('\n') + '\n');
    const imported = await (
      await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
    ).result();
    expect(imported.stored).toBe(examples.length);
    const clustered = await (await startClustering(stack().client, stack().taskQueue, { tenantId: tenant })).result();
    clusterRunId = clustered.runId;
    // ~240 queries an intent: enough held-out evidence to certify a 5% budget, not the default 1% (which needs ~300
    // clean held-out answers per admitted set of routes).
    await setTenantBudget(stack().db, tenant, 0.05);

    const handle = await startGraduation(stack().client, stack().taskQueue, { tenantId: tenant, clusterRunId, remindEveryMs: 1000, expireAfterMs: 3_600_000 });
    const out = await handle.result();
    expect(out.passed).toBeGreaterThanOrEqual(3);
    expect(out.reviews).toHaveLength(out.passed);

    pending = await listCandidates(stack().db, tenant);
    expect(pending).toHaveLength(out.passed);
    // Ordered by traffic; every pending candidate is a canned answer of one of the intents, with strong evidence.
    for (let i = 1; i < pending.length; i++) expect(pending[i - 1]!.trafficShare).toBeGreaterThanOrEqual(pending[i]!.trafficShare);
    for (const c of pending) {
      expect(intents.map(answerOf)).toContain(c.template);
      expect(c.precision).toBeGreaterThanOrEqual(0.98);
      expect(c.coverage).toBe(1);
      const d = await stack().client.workflow.getHandle(ids.review(c.id)).describe();
      expect(d.status.name).toBe('RUNNING');
    }
    // The canned answer that does not fit its queries (how to subscribe, for people unsubscribing) is flagged.
    const newsletter = pending.find((c) => c.template === answerOf('newsletter_subscription'));
    if (newsletter) expect(newsletter.warnings.join(' ')).toMatch(/unsubscribe/);
  });

  it('refuses bad decisions and edits that break verification; the candidate stays pending', async () => {
    const c = pending[0]!;
    expect((await decideError(c.id, { action: 'approve' })).field).toBe('reviewer');
    expect((await decideError(c.id, { action: 'reject', reviewer: 'ana' })).field).toBe('comment');
    const broken = await decideError(c.id, { action: 'approve_with_edits', reviewer: 'ana', template: 'Order {{#if}} broken' });
    expect(broken.message).toMatch(/does not compile/);
    const wrong = await decideError(c.id, { action: 'approve_with_edits', reviewer: 'ana', template: 'Something else entirely.' });
    expect(wrong.message).toMatch(/fails verification: precision/);
    const missing = await decideError(c.id, { action: 'approve_with_edits', reviewer: 'ana', template: `${c.template} Your order: {{id}}` });
    expect(missing.message).toMatch(/coverage/);
    expect(await statusOf(c.id)).toBe('pending_review');
    expect(await stack().db.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, c.id))).toEqual([]);
    expect(await stack().db.select().from(tierEntries).where(eq(tierEntries.tenantId, tenant))).toEqual([]);
  });

  it('an approval with edits is re-verified, recorded with reviewer and version, and becomes tier entries', async () => {
    const c = pending[0]!;
    const edited = `${c.template}\n`;
    const result = await decideCandidate(stack().client, c.id, {
      action: 'approve_with_edits',
      reviewer: 'ana@example.com',
      comment: 'trailing newline',
      template: edited,
    });
    expect(result).toMatchObject({ candidateId: c.id, status: 'approved' });
    expect(result.version).toBeGreaterThan(1);
    expect(result.routes.sort()).toEqual([...c.clusterIds].sort());
    const [decision] = await stack().db.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, c.id));
    expect(decision).toMatchObject({ decision: 'approve_with_edits', reviewer: 'ana@example.com', version: result.version });
    const [v] = await stack()
      .db.select()
      .from(candidateVersions)
      .where(and(eq(candidateVersions.candidateId, c.id), eq(candidateVersions.version, result.version)));
    expect(v).toMatchObject({ template: edited, passed: 1, author: 'ana@example.com' });
    const [v1] = await stack()
      .db.select()
      .from(candidateVersions)
      .where(and(eq(candidateVersions.candidateId, c.id), eq(candidateVersions.version, 1)));
    // Judged like the original: the same judge and budget, the route thresholds admission calibrated kept.
    expect(v!.evidence).toMatchObject({ match: 'judged', passed: true });
    expect(v!.evidence.judged).toMatchObject({ budget: { maxErrorRate: 0.05 }, routes: v1!.evidence.judged!.routes });
    expect(v!.evidence.judged!.judge).toMatch(/^embedding:cal-/);
    expect(v!.evidence.examples.filter((r) => r.rendered === edited && r.agrees && r.semantic === 1).length).toBeGreaterThan(0);
    const entries = await stack()
      .db.select()
      .from(tierEntries)
      .where(and(eq(tierEntries.tenantId, tenant), eq(tierEntries.status, 'active')));
    expect(entries.map((e) => e.routeId).sort()).toEqual([...c.clusterIds].sort());
    for (const e of entries) expect(e).toMatchObject({ tier: 'template', target: { candidateId: c.id, version: result.version, template: edited } });
    expect(await stack().client.workflow.getHandle(ids.review(c.id)).result()).toMatchObject({ status: 'approved' });
    // Decided is final.
    expect(httpStatusOf(await decideError(c.id, { action: 'reject', reviewer: 'bo', comment: 'late' }))).toBe(409);
  });

  it('reminders are counted while a candidate waits; a rejection is recorded and serves nothing', async () => {
    const c = pending[1]!;
    const reminders = async () => (await stack().db.select({ n: candidates.reminders }).from(candidates).where(eq(candidates.id, c.id)))[0]!.n;
    for (let i = 0; i < 50 && (await reminders()) < 1; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await reminders()).toBeGreaterThanOrEqual(1);
    const result = await decideCandidate(stack().client, c.id, { action: 'reject', reviewer: 'bo', comment: 'answer too generic' });
    expect(result.status).toBe('rejected');
    expect(await stack().db.select().from(tierEntries).where(eq(tierEntries.routeId, c.clusterIds[0]!))).toEqual([]);
    expect(await statusOf(c.id)).toBe('rejected');
  });

  it('re-running graduation duplicates nothing and opens no second review', async () => {
    const before = await stack().db.select({ id: candidates.id }).from(candidates).where(eq(candidates.tenantId, tenant));
    const again = await (await startGraduation(stack().client, stack().taskQueue, { tenantId: tenant, clusterRunId })).result();
    expect(again.reviews).toHaveLength(pending.length - 2);
    const after = await stack().db.select({ id: candidates.id }).from(candidates).where(eq(candidates.tenantId, tenant));
    expect(after.map((r) => r.id).sort()).toEqual(before.map((r) => r.id).sort());
    expect(await statusOf(pending[0]!.id)).toBe('approved');
  });

  it('an undecided candidate expires and serves nothing', async () => {
    const c = pending[2]!;
    await stack().client.workflow.getHandle(ids.review(c.id)).terminate('replaced by a short review for the test');
    const short = await stack().client.workflow.start('reviewWorkflow', {
      taskQueue: stack().taskQueue,
      workflowId: `review:${c.id}:short`,
      args: [{ tenantId: tenant, candidateId: c.id, remindEveryMs: 60_000, expireAfterMs: 1500 }],
    });
    expect(await short.result()).toMatchObject({ status: 'expired' });
    expect(await statusOf(c.id)).toBe('expired');
    const [d] = await stack().db.select().from(reviewDecisions).where(eq(reviewDecisions.candidateId, c.id));
    expect(d).toMatchObject({ decision: 'expire', reviewer: 'system' });
  });
});
