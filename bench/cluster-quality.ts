/**
 * Clustering quality (issue 3): our pipeline against BERTopic-style UMAP + HDBSCAN on the same embeddings, in one
 * run, on Banking77 and HWU64 (and bitext v2). Labels are used only to score. Noise/outliers count as singletons in
 * NMI for both (the fair treatment when one side emits noise), and as impure in purity.
 *
 *   npx tsx bench/cluster-quality.ts [--dataset banking77 hwu64 bitext-v2] [--threshold 0.7]
 *
 * Needs .venv-bench with BERTopic (created by hand: python3 -m venv .venv-bench && .venv-bench/bin/pip install
 * torch==2.13.0 bertopic umap-learn hdbscan).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ALL_THREADS, clusterQueries } from '../src/clustering/cluster';
import { scoreClustering } from '../src/clustering/metrics';
import { collapseQueries } from '../src/clustering/evaluate';
import { loadConfig } from '../src/config';
import { type SharedDatasetName, loadSharedDataset } from '../src/datasets/shared';
import { openDatabase } from '../src/db/client';
import { createEmbedder } from '../src/embeddings';
import { embedWithCache, toBytes } from '../src/embeddings/cache';

const { values: args } = parseArgs({
  options: { dataset: { type: 'string', multiple: true, default: ['banking77', 'hwu64', 'bitext-v2'] }, threshold: { type: 'string', default: '0.7' } },
});
const PY = path.resolve('.venv-bench/bin/python');

async function main() {
  const config = loadConfig();
  const database = openDatabase(config.database);
  await database.migrate();
  const embedder = await createEmbedder(config.embeddings);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cluster-quality-'));
  const rows: string[] = [];
  try {
    for (const name of args.dataset as SharedDatasetName[]) {
      const examples = loadSharedDataset(name);
      const { texts, weights, distinctOf } = collapseQueries(examples.map((ex) => ex.query));
      const vecs = await embedWithCache(database.db, embedder, texts);
      const dims = embedder.dims;
      const vectors = new Float32Array(texts.length * dims);
      vecs.forEach((v, i) => vectors.set(v, i * dims));
      const labels = new Map<string, number>();
      const truth = examples.map((ex) => labels.get(ex.label) ?? (labels.set(ex.label, labels.size), labels.size - 1));

      const t0 = performance.now();
      const ours = clusterQueries({ vectors, dims, weights }, { threshold: Number(args.threshold), threads: ALL_THREADS });
      const oursSec = (performance.now() - t0) / 1000;
      const oursScore = scoreClustering(
        Array.from(distinctOf, (d) => ours.assignment[d]!),
        truth,
        { coverage: 0.6 },
      );

      writeFileSync(path.join(tmp, 'v.f32'), toBytes(vectors));
      writeFileSync(path.join(tmp, 't.json'), JSON.stringify(texts));
      const out = JSON.parse(
        execFileSync(PY, ['bench/bertopic_cluster.py', path.join(tmp, 'v.f32'), String(dims), path.join(tmp, 't.json')], {
          encoding: 'utf8',
          maxBuffer: 1 << 28,
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .trim()
          .split('\n')
          .pop()!,
      );
      const btScore = scoreClustering(
        Array.from(distinctOf, (d) => out.topics[d] as number),
        truth,
        { coverage: 0.6 },
      );

      for (const [who, s, sec] of [
        ['distillery', oursScore, oursSec],
        ['BERTopic (UMAP+HDBSCAN)', btScore, out.seconds],
      ] as const) {
        rows.push(
          `${name.padEnd(10)} ${who.padEnd(24)} NMI ${s.nmi.toFixed(4)}  ARI ${s.ari.toFixed(4)}  purity ${s.purity.toFixed(4)}  clusters ${String(s.clusters).padStart(4)}  noise ${(100 * s.noise.share).toFixed(1).padStart(5)}%  top-60% purity ${s.atCoverage.reached ? s.atCoverage.purity.toFixed(4) : 'not reached'}  (${(sec as number).toFixed(1)} s)`,
        );
      }
      console.log(rows.slice(-2).join('\n'));
    }
  } finally {
    await database.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`\nRESULT clustering quality (${embedder.id}, threshold ${args.threshold}):\n${rows.join('\n')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
