/**
 * Clustering at scale (issue 3): wall time and peak memory to cluster 1M synthetic queries on this machine.
 *
 *   npx tsx bench/cluster.ts [--traffic 1000000] [--distinct 400000] [--noise 0.35]
 *
 * The synthetic queries come from the shared data sets: every real query (banking77, hwu64, bitext v2) is
 * normalised and embedded with the configured embedder (cached in the database), then paraphrase noise is added
 * in embedding space (each variant = real vector + Gaussian noise, renormalised; --noise sets its size relative to
 * the vector, ~0.35 gives cosine ≈ 0.94 to the original) and traffic is spread over the variants Zipf-style.
 * Embedding is measured separately (bench/embeddings.ts); this times clustering, the part that must scale.
 * bench/cluster-workflow.ts runs the same scale through the cluster workflow (heartbeats, blobs, recording, a worker kill).
 */
import { parseArgs } from 'node:util';
import { ALL_THREADS, clusterQueries } from '../src/clustering/cluster';
import { scoreClustering } from '../src/clustering/metrics';
import { dedupKey } from '../src/clustering/dedup';
import { normalizeQuery } from '../src/serving/normalize';
import { loadConfig } from '../src/config';
import { loadSharedDataset } from '../src/datasets/shared';
import { openDatabase } from '../src/db/client';
import { createEmbedder } from '../src/embeddings';
import { embedWithCache } from '../src/embeddings/cache';

const { values: args } = parseArgs({
  options: { traffic: { type: 'string', default: '1000000' }, distinct: { type: 'string', default: '400000' }, noise: { type: 'string', default: '0.35' } },
});
const TRAFFIC = Number(args.traffic);
const DISTINCT = Number(args.distinct);
const NOISE = Number(args.noise);

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0), s / 2 ** 32);
}

async function main() {
  const config = loadConfig();
  const texts: string[] = [];
  const labels: string[] = [];
  const seen = new Set<string>();
  for (const name of ['banking77', 'hwu64', 'bitext-v2'] as const) {
    for (const ex of loadSharedDataset(name)) {
      const n = normalizeQuery(ex.query);
      const key = `${name}\n${dedupKey(n)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      texts.push(n.text);
      labels.push(`${name}:${ex.label}`);
    }
  }
  const database = openDatabase(config.database);
  await database.migrate();
  const embedder = await createEmbedder(config.embeddings);
  const t0 = performance.now();
  const base = await embedWithCache(database.db, embedder, texts);
  await database.close();
  const dims = embedder.dims;
  console.log(
    `bench/cluster: ${texts.length} real distinct queries embedded (or read from cache) in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${dims} dims`,
  );

  // Synthetic traffic: DISTINCT variants of the real queries, TRAFFIC occurrences in all (Zipf-like counts).
  const r = rng(42);
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  const vectors = new Float32Array(DISTINCT * dims);
  const weights = new Uint32Array(DISTINCT);
  const truth = new Int32Array(DISTINCT);
  const labelIds = new Map<string, number>();
  const sigma = NOISE / Math.sqrt(dims);
  for (let i = 0; i < DISTINCT; i++) {
    const src = Math.floor(r() * base.length);
    const v = base[src]!;
    let norm = 0;
    for (let j = 0; j < dims; j++) {
      const x = v[j]! + sigma * gauss();
      vectors[i * dims + j] = x;
      norm += x * x;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < dims; j++) vectors[i * dims + j]! /= norm;
    const label = labels[src]!;
    truth[i] = labelIds.get(label) ?? (labelIds.set(label, labelIds.size), labelIds.size - 1);
    weights[i] = 1;
  }
  // Spread the remaining traffic Zipf-style: frequent phrasings repeat a lot, most appear once.
  for (let extra = TRAFFIC - DISTINCT; extra > 0; extra--) weights[Math.floor(DISTINCT * r() ** 3)]!++;

  const rssBefore = process.memoryUsage().rss;
  const t1 = performance.now();
  const res = clusterQueries({ vectors, dims, weights }, { threads: ALL_THREADS });
  const sec = (performance.now() - t1) / 1000;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const score = scoreClustering(res.assignment, truth, { weights, coverage: 0.6 });
  console.log(
    `  ${TRAFFIC.toLocaleString('en')} queries (${DISTINCT.toLocaleString('en')} distinct, noise ${NOISE}) -> ${res.weight.length} clusters, noise share ${(100 * score.noise.share).toFixed(1)}%`,
  );
  console.log(
    `  quality vs source labels: NMI ${score.nmi.toFixed(4)}, purity ${score.purity.toFixed(4)}, top-60% purity ${score.atCoverage.reached ? score.atCoverage.purity.toFixed(4) : 'not reached'}`,
  );
  console.log(
    `\nRESULT clustering ${TRAFFIC.toLocaleString('en')} synthetic queries: ${sec.toFixed(1)} s wall (goal <= 300 s), peak RSS ${(peakRss / 2 ** 30).toFixed(2)} GiB (goal <= 4 GiB; ${(rssBefore / 2 ** 30).toFixed(2)} GiB before clustering, vectors alone ${((DISTINCT * dims * 4) / 2 ** 30).toFixed(2)} GiB)`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
