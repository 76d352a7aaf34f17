import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatReplay } from '../src/cli/manifest';
import { loadConfig } from '../src/config';
import { type LabelledExample, type SharedDatasetName, loadSharedDataset, toLogRecord } from '../src/datasets/shared';
import { DEV_TENANT, startLocalStack } from '../app/stack';
import { buildTinyModel, tinyTrainerConfig } from '../src/distill/tiny';
import { listCandidates } from '../src/graduation/store';
import { completedStats } from '../src/runs/store';
import { connectClient } from '../src/temporal/client';
import { decideCandidate, startIngest, startPublish, startRetrain } from '../src/temporal/starters';

/**
 * The monthly retrain on this machine, on embedded defaults (PGlite, filesystem blobs, Temporal dev server):
 *   npx tsx bench/retrain.ts [--data bitext-v1,bitext-v2,banking77] [--limit 20000] [--no-distill]
 * Ingests the data sets as one tenant's log, runs one retrain (distillation with the tiny CPU model on the largest
 * untemplated category), prints each stage's wall time; then approves every template candidate the fit check does
 * not flag (standing in for reviewers), publishes, and prints the savings replay: share of traffic per tier and
 * projected cost against all-frontier (prices from the tier_prices table).
 */
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const sets = arg('data', 'bitext-v1,bitext-v2,banking77').split(',') as SharedDatasetName[];
const limit = Number(arg('limit', '20000'));
const distill = !process.argv.includes('--no-distill');

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'distillery-bench-retrain-'));
const config = loadConfig({ ...process.env, DISTILLERY_DATA_DIR: dataDir, LOG_LEVEL: 'warn', DATABASE_URL: '', S3_BUCKET: '' });
const stack = await startLocalStack({ ...config, api: { ...config.api, port: 0 } }, { temporal: 'ephemeral', api: false });
const client = await connectClient(stack.config.temporal);
try {
  const examples: LabelledExample[] = sets.flatMap((s) => loadSharedDataset(s)).slice(0, limit);
  await stack.blob.put(`imports/${DEV_TENANT}/bench.jsonl`, examples.map((ex, i) => JSON.stringify(toLogRecord(ex, i))).join('\n') + '\n');
  let t = Date.now();
  const ing = await (
    await startIngest(
      client,
      stack.config.temporal.taskQueue,
      { tenantId: DEV_TENANT, source: stack.blob.uri(`imports/${DEV_TENANT}/bench.jsonl`) },
      stack.config.ingest.allowedSources,
    )
  ).result();
  console.log(`data: ${sets.join(' + ')}, ${examples.length} interactions; ingest ${((Date.now() - t) / 1000).toFixed(1)} s (${ing.stored} stored)`);

  let trainer;
  if (distill) {
    const model = path.join(dataDir, 'tiny');
    await buildTinyModel(examples.slice(0, 3000), model);
    trainer = tinyTrainerConfig(model);
  }
  t = Date.now();
  const out = await (
    await startRetrain(client, stack.config.temporal.taskQueue, {
      tenantId: DEV_TENANT,
      lookbackDays: 36_500,
      gpuTaskQueue: stack.config.temporal.gpuTaskQueue,
      ...(trainer ? { distill: { trainer, maxCategories: 1, minShare: 0, maxNewTokens: 32 } } : {}),
    })
  ).result();
  console.log(
    `retrain: ${((Date.now() - t) / 1000).toFixed(1)} s wall; publish ${out.publish.status} v${out.publish.version ?? '-'}; ${out.candidatesForReview} candidates for review; adapters ${JSON.stringify(out.adapters)}`,
  );
  const stages = (await completedStats(stack.database.db, out.runId, 'retrain'))?.stages ?? {};
  for (const stage of ['cluster', 'graduate', 'distill', 'tiers', 'publish'])
    if (stages[stage]) console.log(`  stage ${stage.padEnd(9)} ${stages[stage]!.seconds.toFixed(1).padStart(6)} s`);

  let approved = 0;
  let rejected = 0;
  for (const c of await listCandidates(stack.database.db, DEV_TENANT, { limit: 1000 })) {
    await decideCandidate(
      client,
      c.id,
      c.warnings.length ? { action: 'reject', reviewer: 'cli:bench', comment: c.warnings[0] } : { action: 'approve', reviewer: 'cli:bench' },
    );
    if (c.warnings.length) rejected++;
    else approved++;
  }
  console.log(`review (stand-in): ${approved} approved, ${rejected} rejected by the fit check`);
  const pub = await (
    await startPublish(client, stack.config.temporal.taskQueue, { tenantId: DEV_TENANT, mode: 'publish', runId: 'bench-after-review', actor: 'bench' })
  ).result();
  console.log(`publish after review: ${pub.status} v${pub.version ?? '-'} ${pub.reasons.join('; ')}`);
  if (pub.replay) console.log(`  ${formatReplay(pub.replay)}`);
} finally {
  await client.close();
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
