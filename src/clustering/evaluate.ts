import { type SharedDatasetName, loadSharedDataset } from '../datasets/shared';
import { type ClusterParams, clusterQueries } from './cluster';
import { type ClusteringScore, scoreClustering } from './metrics';
import { normalizeQuery } from '../serving/normalize';
import { dedupKey } from './dedup';

export interface Evaluation {
  dataset: SharedDatasetName;
  examples: number;
  distinct: number;
  score: ClusteringScore;
  seconds: { embed: number; cluster: number };
}

/**
 * Normalises and masks queries and collapses exact duplicates: the distinct texts, how often each came, and which
 * distinct text each input query became (the same first steps the cluster workflow takes).
 */
export function collapseQueries(queries: string[]): { texts: string[]; weights: number[]; distinctOf: Int32Array } {
  const keyIndex = new Map<string, number>();
  const texts: string[] = [];
  const weights: number[] = [];
  const distinctOf = new Int32Array(queries.length);
  queries.forEach((q, i) => {
    const n = normalizeQuery(q);
    const key = dedupKey(n);
    let d = keyIndex.get(key);
    if (d === undefined) {
      d = texts.length;
      keyIndex.set(key, d);
      texts.push(n.text);
      weights.push(0);
    }
    weights[d]!++;
    distinctOf[i] = d;
  });
  return { texts, weights, distinctOf };
}

/**
 * Scores the clustering pipeline (normalise and mask → collapse duplicates → embed → cluster) on a labelled data
 * set. The labels are used only here, to score; the pipeline never sees them. Every example is scored (a duplicate
 * counts as traffic), noise counts as singletons in NMI/ARI and as impure in purity.
 */
export async function evaluateClustering(
  dataset: SharedDatasetName,
  embed: (texts: string[]) => Promise<Float32Array[]>,
  params: Partial<ClusterParams> = {},
): Promise<Evaluation> {
  const examples = loadSharedDataset(dataset);
  const { texts, weights, distinctOf } = collapseQueries(examples.map((ex) => ex.query));
  const t0 = performance.now();
  const vecs = await embed(texts);
  const t1 = performance.now();
  const dims = vecs[0]?.length ?? 0;
  const vectors = new Float32Array(texts.length * dims);
  vecs.forEach((v, i) => vectors.set(v, i * dims));
  const result = clusterQueries({ vectors, dims, weights }, params);
  const t2 = performance.now();
  const labels = new Map<string, number>();
  const truth = examples.map((ex) => labels.get(ex.label) ?? (labels.set(ex.label, labels.size), labels.size - 1));
  const predicted = Array.from(distinctOf, (d) => result.assignment[d]!);
  return {
    dataset,
    examples: examples.length,
    distinct: texts.length,
    score: scoreClustering(predicted, truth, { coverage: 0.6 }),
    seconds: { embed: (t1 - t0) / 1000, cluster: (t2 - t1) / 1000 },
  };
}

/** A few lines for people: the headline figures and the coverage/purity curve at 10% steps. */
export function formatEvaluation(e: Evaluation): string {
  const s = e.score;
  const lines = [
    `${e.dataset}: ${e.examples} examples, ${e.distinct} distinct after normalisation, ${s.labels} labels -> ${s.clusters} clusters, noise ${(100 * s.noise.share).toFixed(1)}%`,
    `  NMI ${s.nmi.toFixed(4)}  ARI ${s.ari.toFixed(4)}  purity ${s.purity.toFixed(4)}   (embed ${e.seconds.embed.toFixed(1)} s, cluster ${e.seconds.cluster.toFixed(2)} s)`,
    `  top clusters holding ${(100 * s.atCoverage.target).toFixed(0)}% of traffic: ${s.atCoverage.reached ? `${s.atCoverage.clusters} clusters, purity ${s.atCoverage.purity.toFixed(4)}` : `not reached (clusters hold ${(100 * s.atCoverage.coverage).toFixed(1)}%)`}`,
    '  coverage/purity of the largest clusters:',
  ];
  for (let target = 0.1; target <= 1.0001; target += 0.1) {
    const p = s.curve.find((pt) => pt.coverage >= target - 1e-12);
    if (!p) break;
    lines.push(`    ${(100 * target).toFixed(0).padStart(3)}% of traffic: ${String(p.clusters).padStart(4)} clusters, purity ${p.purity.toFixed(4)}`);
  }
  return lines.join('\n');
}
