import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server';
import { createApiKey } from '../../src/keys/store';
import { loadConfig } from '../../src/config';
import { createEmbedder } from '../../src/embeddings';
import { getCandidate, listCandidates } from '../../src/graduation/store';
import { Router } from '../../src/router';
import type { ToolScript } from '../../src/serving/toolscript';
import { decideCandidate, startClustering, startGraduation, startIngest, startPublish } from '../../src/temporal/starters';
import { stubTools, teacherLoop } from '../../src/toolscripts/stub-world';
import { supportTraffic, withOrderNumber } from '../../src/toolscripts/traffic';
import type { ToolScriptEvidence } from '../../src/toolscripts/verify';
import { useStackWithWorker } from '../support/stack';

/**
 * Workflow materialization on the real stack (Temporal, Postgres, S3): logged tool loops of real support queries
 * (tracking and cancelling orders against the stub order system) → clustering → graduation mines and verifies tool
 * scripts → a reviewer approves → publish → the router client runs the script against the application's tools and
 * answers as the teacher did; a neighbour's query and an unrelated one go to the frontier.
 */
const tenant = 'toolscripts-it';
const stack = useStackWithWorker(tenant);
const traffic = supportTraffic({ perKind: { track: 320, cancel: 160, change: 60, refund: 60 }, seed: 'it' });
/** A tool runner that logs every turn logs the first one too (its answer calls a tool): stored, but no trace. */
const firstTurns = traffic
  .filter((t) => t.kind === 'track')
  .slice(0, 60)
  .map((t) => {
    const req = t.record.request as { model: string; messages: unknown[]; tools: unknown[] };
    return {
      idempotency_key: `${String(t.record.idempotency_key)}-turn1`,
      request: { ...req, messages: req.messages.slice(0, 2) },
      response: { choices: [{ index: 0, message: req.messages[2], finish_reason: 'tool_calls' }] },
      feedback: { kind: 'accepted' },
    };
  });

describe('tool scripts: traces → graduation → review → manifest → router', () => {
  let trackId: string;

  it('ingests tool loops and graduation proposes a tool-script candidate that passes trace replay', async () => {
    const key = `imports/${tenant}/loops.jsonl`;
    await stack().blob.put(key, [...traffic.map((t) => t.record), ...firstTurns].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const imported = await (
      await startIngest(stack().client, stack().taskQueue, { tenantId: tenant, source: `s3://${stack().stack.bucket}/${key}` }, stack().allowedSources)
    ).result();
    expect(imported.stored).toBe(traffic.length + firstTurns.length);
    const clustered = await (await startClustering(stack().client, stack().taskQueue, { tenantId: tenant })).result();
    const graduated = await (
      await startGraduation(stack().client, stack().taskQueue, {
        tenantId: tenant,
        clusterRunId: clustered.runId,
        remindEveryMs: 3_600_000,
        expireAfterMs: 3_600_000,
      })
    ).result();
    expect(graduated.passed).toBeGreaterThanOrEqual(1);

    const all = await listCandidates(stack().db, tenant, { status: 'all' });
    const scripts = all.filter((c) => c.kind === 'toolscript' && c.status === 'pending_review');
    expect(scripts.length).toBeGreaterThanOrEqual(1);
    // The tracking script: looks the order up by the query's number, then branches on its status.
    const detail = await Promise.all(scripts.map((c) => getCandidate(stack().db, tenant, c.id)));
    const track = detail.find((d) => (d.versions[0]!.script as unknown as ToolScript).branches.length > 1);
    expect(track).toBeDefined();
    trackId = track!.candidate.id;
    const v1 = track!.versions[0]!;
    const script = v1.script as unknown as ToolScript;
    expect(script.steps[0]).toMatchObject({ tool: 'lookup_order', args: { order_id: { from: 'slot', slot: 'id' } } });
    expect(script.branches.some((b) => b.steps.some((s) => s.tool === 'get_shipment' && s.args.tracking_number!.from === 'result'))).toBe(true);
    const ev = v1.evidence as unknown as ToolScriptEvidence;
    expect(ev).toMatchObject({ passed: true, callAgreement: 1, answerAgreement: 1 });
    expect(ev.served).toBeGreaterThanOrEqual(15);
    expect(ev.examples[0]!.script.calls).toEqual(ev.examples[0]!.teacher.calls);
  });

  it('the API stores a tool loop once (a retry is a duplicate) and refuses a malformed one naming the field', async () => {
    const { db } = stack();
    const key = await createApiKey(db, tenant, { name: 'support-bot', scopes: ['ingest'] });
    const app = await buildApi({ db, api: { host: '127.0.0.1', port: 0, bodyLimitBytes: 256 * 1024, batchMaxItems: 10 }, logLevel: 'silent' });
    const post = (body: unknown) =>
      app.inject({
        method: 'POST',
        url: '/v1/interactions',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        payload: JSON.stringify(body),
      });
    try {
      const [loop] = supportTraffic({ perKind: { track: 1 }, seed: 'api' });
      const rec = { ...loop!.record, idempotency_key: 'api-loop-1' };
      expect((await post(rec)).statusCode).toBe(201);
      expect((await post(rec)).json()).toMatchObject({ status: 'duplicate' });
      const bad = structuredClone(rec) as unknown as { request: { messages: Array<{ tool_calls?: Array<{ function: { arguments: string } }> }> } };
      bad.request.messages.find((m) => m.tool_calls)!.tool_calls![0]!.function.arguments = '{"order_id":';
      const res = await post({ ...bad, idempotency_key: 'api-loop-2' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({ field: 'request.messages[2].tool_calls[0].function.arguments', message: 'is not valid JSON' });
    } finally {
      await app.close();
    }
  });

  it('an edited script that calls differently fails re-verification; the candidate stays pending', async () => {
    const [v1] = (await getCandidate(stack().db, tenant, trackId)).versions;
    const broken = structuredClone(v1!.script as unknown as ToolScript);
    broken.steps[0]!.args.order_id = { from: 'const', value: '1' };
    const err = await decideCandidate(stack().client, trackId, { action: 'approve_with_edits', reviewer: 'ana', template: 'x', script: broken }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/fails verification/);
    expect((await getCandidate(stack().db, tenant, trackId)).candidate.status).toBe('pending_review');
  });

  it('the review page shows the steps, branches and teacher vs script traces side by side', async () => {
    const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: run scripts/setup or set CHROMIUM_PATH`);
    const { db, client, taskQueue } = stack();
    const key = await createApiKey(db, tenant, { name: 'Ada Reviewer', scopes: ['review'] });
    const app = await buildApi({
      db,
      api: { host: '127.0.0.1', port: 0, bodyLimitBytes: 64 * 1024, batchMaxItems: 10 },
      logLevel: 'silent',
      temporal: { client, taskQueue },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/review`);
      await page.locator('#api-key').fill(key);
      await page.locator('#auth-submit').click();
      await page.locator(`[data-candidate-id="${trackId}"]`).click();
      const soon = { timeout: 15_000 };
      await expect.poll(() => page.locator('#script-steps').textContent(), soon).toContain('lookup_order(order_id = query id)');
      expect(await page.locator('#script-branches').textContent()).toMatch(/when step0\.status in \["(shipped|processing|delivered)"\]/);
      expect(await page.locator('[data-testid=metric-calls]').textContent()).toContain('100.0 %');
      const example = page.locator('[data-testid=example]').first();
      expect(await example.locator('th').allTextContents()).toEqual(['Teacher', 'Script']);
      const cells = await example.locator('tbody tr').first().locator('td').allTextContents();
      expect(cells[0]).toMatch(/^lookup_order\(/);
      expect(cells[1]).toBe(cells[0]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await app.close();
    }
  });

  it('approved and published, the router client runs it against registered tools; neighbours and unrelated queries go to the frontier', async () => {
    // An edit that keeps the calls (order numbers are digits already) passes re-verification and is what is approved.
    const [v1] = (await getCandidate(stack().db, tenant, trackId)).versions;
    const edited = structuredClone(v1!.script as unknown as ToolScript);
    edited.steps[0]!.args.order_id = { from: 'slot', slot: 'id', transform: 'digits' };
    const approved = await decideCandidate(stack().client, trackId, {
      action: 'approve_with_edits',
      reviewer: 'ana',
      template: '(tool script)',
      script: edited,
    });
    // Version 2 is the refused edit above (kept with its evidence, as for templates).
    expect(approved).toMatchObject({ status: 'approved', version: 3 });
    expect((await getCandidate(stack().db, tenant, trackId)).versions.map((v) => [v.version, v.passed, v.author])).toEqual([
      [1, 1, 'induction'],
      [2, 0, 'ana'],
      [3, 1, 'ana'],
    ]);
    // The reviewer approves every other tool script awaiting review (tracking traffic may form several clusters).
    for (const c of (await listCandidates(stack().db, tenant)).filter((x) => x.kind === 'toolscript'))
      expect(await decideCandidate(stack().client, c.id, { action: 'approve', reviewer: 'ana' })).toMatchObject({ status: 'approved' });
    const published = await (
      await startPublish(stack().client, stack().taskQueue, { tenantId: tenant, mode: 'publish', runId: 'toolscripts-it', actor: 'test' })
    ).result();
    expect(published).toMatchObject({ status: 'published' });

    const embedder = await createEmbedder(loadConfig({}).embeddings);
    const router = await Router.create({ source: `blob:manifests/${tenant}/current.json`, embedder, blobStore: stack().blob, tools: stubTools() });
    // The approved version (the reviewer's edit) is what the manifest serves.
    const served = router.manifest.routes.map((r) => r.target).find((t) => 'toolScript' in t && t.candidateId === trackId);
    expect(served).toMatchObject({ version: 3, toolScript: { steps: [{ args: { order_id: { from: 'slot', slot: 'id', transform: 'digits' } } }] } });
    // Unseen traffic: a tracking query with an order number never logged.
    const unseen = supportTraffic({ perKind: { track: 12 }, seed: 'unseen' });
    let hits = 0;
    let one: { query: string; id: string } | undefined;
    for (const u of unseen) {
      const r = await router.run(u.query);
      if (r.tier !== 'template') continue;
      hits++;
      one ??= { query: u.query, id: String(u.teacher.calls[0]!.args.order_id) };
      expect(r.answer).toBe(u.teacher.answer);
      expect(r.toolCalls!.map((c) => ({ tool: c.tool, args: c.args }))).toEqual(u.teacher.calls.map((c) => ({ tool: c.tool, args: c.args })));
    }
    expect(hits).toBeGreaterThanOrEqual(6);
    // Another order number in the same words: the script looks that order up.
    const again = withOrderNumber(one!.query, '48151623')!;
    expect(await router.run(again)).toMatchObject({ tier: 'template', answer: teacherLoop('track', '48151623').answer });
    // A result outside the traces: the application's tool reports a status never seen → frontier, with the call made.
    const odd = await router.run(again, {
      tools: { ...stubTools(), lookup_order: () => ({ order_id: '48151623', status: 'lost', tracking_number: 'x', total: 1 }) },
    });
    expect(odd).toMatchObject({ tier: 'frontier', routeId: null, reason: expect.stringMatching(/handed over/) });
    expect(odd.toolCalls).toHaveLength(1);
    // A neighbour (changing an order: order numbers too, no script) and an unrelated question go to the frontier.
    expect((await router.run('I want to change some items of order 370795561790')).tier).not.toBe('template');
    expect((await router.run('Calculate the area of a triangle given the base is 10 meters and height is 5 meters.')).tier).toBe('frontier');
    router.close();
  });
});
