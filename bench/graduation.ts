import { loadConfig } from '../src/config';
import { type SharedDatasetName, loadSharedDataset } from '../src/datasets/shared';
import { openDatabase } from '../src/db/client';
import { createEmbedder } from '../src/embeddings';
import { embedWithCache } from '../src/embeddings/cache';
import { evaluateGraduation, formatGraduationEvaluation } from '../src/graduation/evaluate';
import { renderAnswer } from '../src/serving/render';
import { slotsOfQuery } from '../src/serving/slots';

/**
 * Graduation on the bitext sets (coverage of unseen traffic by approved-quality candidates and their intent
 * precision; labels only score), then template rendering speed: renders/s and p99 latency of one render, with and
 * without extracting the slots from the raw query (what the router does per request).
 * Usage: npx tsx bench/graduation.ts [clustering threshold ...]
 */
const thresholds = process.argv.slice(2).map(Number);
const config = loadConfig();
const embedder = await createEmbedder(config.embeddings);
const database = openDatabase(config.database);
await database.migrate();
const embed = (texts: string[]) => embedWithCache(database.db, embedder, texts);
for (const threshold of thresholds.length ? thresholds : [0.7]) {
  console.log(`clustering threshold ${threshold}`);
  for (const d of ['bitext-v1', 'bitext-v2'] as SharedDatasetName[])
    console.log(formatGraduationEvaluation(await evaluateGraduation(d, embed, { cluster: { threshold } })));
}
await database.close();

const queries = loadSharedDataset('bitext-v2').map((e) => e.query);
const template = 'Your order {{id}} is on its way. Track it under \\{{Order Details}} on our site. Need help? Reply here.';
const slots = queries.map(() => ({ id: '123456789' }));
for (const withSlots of [false, true]) {
  const lat: number[] = [];
  const N = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const q = queries[i % queries.length]!;
    const s = performance.now();
    renderAnswer(template, { query: q, slots: withSlots ? { id: '123456789', ...slotsOfQuery(q) } : slots[i % slots.length]! });
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const p = (q: number) => (1000 * lat[Math.floor(q * (lat.length - 1))]!).toFixed(1);
  console.log(
    `render${withSlots ? ' + slot extraction from the raw query' : ''}: ${Math.round(N / secs).toLocaleString('en')} renders/s, p50 ${p(0.5)} µs, p99 ${p(0.99)} µs, p99.9 ${p(0.999)} µs (1 thread)`,
  );
}
