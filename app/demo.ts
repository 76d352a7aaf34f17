import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../src/config';
import { type SharedDatasetName, loadSharedDataset, toLogRecord } from '../src/datasets/shared';
import { DEV_TENANT, startLocalStack } from './stack';
import { buildTinyModel, tinyTrainerConfig } from '../src/distill/tiny';
import { createEmbedder } from '../src/embeddings';
import { listCandidates } from '../src/graduation/store';
import { Router } from '../src/router';
import { connectClient } from '../src/temporal/client';
import { type ReviewPublishOutput, ids, ingestProgressQuery } from '../src/temporal/contract';
import { pct } from '../src/cli/common';
import { formatReplay } from '../src/cli/manifest';
import { decideCandidate, startIngest, startRetrain } from '../src/temporal/starters';

/**
 * The main job on embedded defaults, end to end and visible: start the stack; import a teacher log through the
 * ingest workflow; run one retrain (cluster → graduate → distil a category with a tiny model on the CPU → publish);
 * review the template candidates; publish again; route a few queries with the router client.
 */
export async function runDemo(config: Config, opts: { dataset: SharedDatasetName; limit?: number }): Promise<void> {
  const step = (s: string) => console.log(`\n== ${s}`);
  step('starting the local stack');
  // The demo prints its own progress; services log warnings only unless LOG_LEVEL asks for more.
  const quiet = process.env.LOG_LEVEL ? config.logLevel : 'warn';
  const stack = await startLocalStack(
    { ...config, logLevel: quiet, api: { ...config.api, port: 0 } },
    { temporal: 'ephemeral', api: true, log: (l) => console.log(`   ${l}`) },
  );
  const client = await connectClient(stack.config.temporal);
  const { taskQueue, gpuTaskQueue } = stack.config.temporal;
  try {
    step(`writing a teacher log from the shared data set ${opts.dataset}`);
    const examples = loadSharedDataset(opts.dataset).slice(0, opts.limit);
    const lines = examples.map((ex, i) => JSON.stringify(toLogRecord(ex, i)));
    lines.splice(Math.min(10, lines.length), 0, '{"truncated": ', JSON.stringify({ messages: [{ role: 'user', content: 'no answer logged' }] }));
    // Under the tenant's imports/ folder: the default allowed import source (INGEST_ALLOWED_ROOTS / _BUCKETS).
    const key = `imports/${DEV_TENANT}/demo/${opts.dataset}.jsonl`;
    await stack.blob.put(key, lines.join('\n') + '\n');
    console.log(`   ${lines.length} lines (${examples.length} records, 2 broken) -> ${stack.blob.uri(key)}`);

    step('importing through the ingest workflow');
    const handle = await startIngest(
      client,
      taskQueue,
      { tenantId: DEV_TENANT, source: stack.blob.uri(`imports/${DEV_TENANT}/demo/`), chunkBytes: 512 * 1024 },
      stack.config.ingest.allowedSources,
    );
    const started = Date.now();
    const timer = setInterval(async () => {
      const p = await handle.query(ingestProgressQuery).catch(() => undefined);
      if (p?.totals.lines)
        console.log(`   … ${p.totals.lines} lines read, ${p.totals.stored} stored, ${p.totals.duplicates} already known, ${p.totals.rejected} rejected`);
    }, 1000);
    const r = await handle.result().finally(() => clearInterval(timer));
    console.log(`   done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${r.stored} stored, ${r.duplicates} already known, ${r.rejected} rejected`);
    if (r.reportUri) console.log(`   rejected lines and reasons: ${r.reportUri}`);

    step('logging one interaction and its feedback through the HTTP API');
    const headers = { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' };
    const record = {
      ...toLogRecord({ query: 'How do I reset my password?', answer: 'Open Settings > Security and choose "Reset password".', label: '' }, 0),
      idempotency_key: 'demo-api-1',
    };
    const posted = await fetch(`${stack.apiUrl}/v1/interactions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(record),
      signal: AbortSignal.timeout(10_000),
    });
    console.log(`   POST /v1/interactions -> ${posted.status} ${await posted.text()}`);
    const fb = await fetch(`${stack.apiUrl}/v1/feedback`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ interaction_key: 'demo-api-1', kind: 'accepted' }),
      signal: AbortSignal.timeout(10_000),
    });
    console.log(`   POST /v1/feedback     -> ${fb.status} ${await fb.text()}`);

    step('building a tiny base model for the CPU trainer (random weights, tokenizer trained on the log)');
    const modelDir = path.join(stack.config.dataDir, 'models', 'tiny');
    mkdirSync(path.dirname(modelDir), { recursive: true });
    await buildTinyModel(examples.slice(0, 3000), modelDir);
    console.log(`   ${modelDir}`);

    step('retrain: snapshot → cluster → graduate → distil → tier updates → replay → publish');
    const trainer = tinyTrainerConfig(modelDir);
    const retrain = await startRetrain(client, taskQueue, {
      tenantId: DEV_TENANT,
      lookbackDays: 36_500,
      gpuTaskQueue,
      distill: { trainer, maxCategories: 1, maxNewTokens: 32 },
      // A demo's reviewer decides in seconds: publish two seconds after the last decision (default: a minute).
      graduation: { publishDebounceMs: 2_000 },
    });
    const t0 = Date.now();
    const progress = setInterval(async () => {
      const d = await retrain.describe().catch(() => undefined);
      const children = d?.raw.pendingChildren?.map((c) => c.workflowTypeName).join(', ');
      const acts = d?.raw.pendingActivities?.map((a) => a.activityType?.name).join(', ');
      console.log(`   … ${Math.round((Date.now() - t0) / 1000)} s: ${children || acts || 'working'}`);
    }, 4000);
    const out = await retrain.result().finally(() => clearInterval(progress));
    console.log(`   done in ${((Date.now() - t0) / 1000).toFixed(0)} s: clustering ${out.clusterRunId}`);
    console.log(`   ${out.candidatesForReview} template candidates passed replay and await review`);
    for (const a of out.adapters)
      console.log(
        `   adapter ${a.adapterId}: ${a.status}${a.status === 'rejected' ? ' by the evaluation gate (a random tiny model cannot match the teacher: the gate is doing its job)' : ''}`,
      );
    console.log(`   manifest: ${out.publish.status}${out.publish.version ? ` v${out.publish.version}` : ''} ${out.publish.reasons.join('; ')}`);

    step('review: approve candidates, reject the ones the fit check flags (a person does this on /review or with `distillery review`)');
    let decided = 0;
    for (const c of await listCandidates(stack.database.db, DEV_TENANT)) {
      decided++;
      const decision = c.warnings.length ? { action: 'reject', reviewer: 'cli:demo', comment: c.warnings[0] } : { action: 'approve', reviewer: 'cli:demo' };
      const d = await decideCandidate(client, c.id, decision);
      console.log(
        `   ${d.status.padEnd(8)} ${pct(c.trafficShare).padStart(6)}  ${c.label}${c.warnings.length ? `  (flagged: ${c.warnings[0]!.slice(0, 90)}…)` : ''}`,
      );
    }
    console.log(`   the review page: ${stack.apiUrl}/review (API key in ${path.join(stack.config.dataDir, 'dev-api-key')})`);

    step('the review publisher publishes what was approved (two seconds after the last decision)');
    const published = decided ? ((await client.workflow.getHandle(ids.reviewPublish(DEV_TENANT)).result()) as ReviewPublishOutput).publishes.at(-1) : undefined;
    if (!published) console.log('   no decision was taken: nothing new to publish');
    else {
      console.log(`   ${published.status}${published.version ? ` v${published.version}` : ''} ${published.reasons.join('; ')}`);
      if (published.replay) console.log(`   ${formatReplay(published.replay)}`);
    }

    step('routing queries with the router client (reads the manifest through its pointer)');
    const router = await Router.create({
      source: `blob:manifests/${DEV_TENANT}/current.json`,
      embedder: await createEmbedder(stack.config.embeddings),
      blobStore: stack.blob,
    });
    console.log(`   manifest v${router.version}: ${router.manifest.routes.length} routes`);
    for (const q of [
      'I want to cancel order 5512873, how do I do that?',
      'where is my package? tracking number please',
      'what is the capital of Australia?',
      'help me get my money back for order 99812',
    ]) {
      const res = await router.resolve(q);
      const what = res.answer ? `"${res.answer.slice(0, 80)}…"` : res.adapter ? `adapter ${res.adapter.adapter}` : `model ${res.model}`;
      console.log(
        `   ${JSON.stringify(q)}\n     -> ${res.tier} (${res.reason}, cos ${Number.isFinite(res.similarity) ? res.similarity.toFixed(2) : '-'}): ${what}`,
      );
    }
    router.close();
    console.log('\nNext: `bin/distillery dev` keeps the stack running; see the README for the review page, jobs, manifests and schedules.');
  } finally {
    step('stopping');
    await client.close();
    await stack.stop();
  }
}
