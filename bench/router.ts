/**
 * Router benchmark (run by hand: `npx tsx bench/router.ts [--flags]`). Prints:
 *
 *   1. Load of a 10k-route manifest of 384-d centroids from a file, by phase: read, JSON.parse, schema validation
 *      (+ centroid checks), content-hash check, index build (base64 decode, int8 quantisation), and Router.create
 *      end to end.
 *   2. resolveVector latency (embedding excluded) over 100k queries near random routes (cosine 0.5–0.98 to a random
 *      route; 1 in 10 far from every route): p50 / p99 / p99.9 of the full decision (nearest route, threshold,
 *      render for template routes), of the nearest-route search alone, and of a plain exact JS scan for comparison.
 *      Agreement of the router's nearest route with an exact scan, on random and on clustered centroids (topics of
 *      related routes at cosine 0.8–0.95, where near neighbours compete), and routes re-checked per query.
 *   3. resolve() with the local MiniLM embedder (createEmbedder from the default config; run scripts/setup first)
 *      for a few hundred held-out banking77 queries against a manifest of the 77 intents (centroids of 20 training
 *      queries each) padded with random routes to 10k: latency including normalisation and embedding, and how
 *      often the query lands on its own intent. Then agreement on a dense real manifest: every distinct banking77 +
 *      hwu64 training query its own route (a few thousand real MiniLM vectors), queried with held-out ones.
 *
 * Options (flag `--name=value` or environment `BENCH_NAME`):
 *   --routes=10000     routes in the synthetic manifest
 *   --dims=384         vector length
 *   --queries=100000   timed resolveVector calls
 *   --exact=5000       queries also checked against an exact scan (per scenario)
 *   --synthetic=true   parts 1 and 2
 *   --real=true        part 3 (needs the local model)
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { normalizeQuery } from '../src/serving/normalize';
import { loadConfig } from '../src/config';
import { loadSharedDataset } from '../src/datasets/shared';
import { createEmbedder } from '../src/embeddings';
import type { Embedder } from '../src/embeddings/types';
import { verifyManifest } from '../src/serving/manifest-hash';
import { validateManifest } from '../src/serving/manifest-validate';
import { NearestIndex } from '../src/serving/nearest';
import { compileManifest, resolveCompiled } from '../src/serving/resolver';
import { Router } from '../src/router/router';
import { type SyntheticRoute, near, randomUnit, rng, syntheticManifest, unit } from '../src/router/synthetic';
import { fmt, summarize } from './support/stats';

function opt(name: string, def: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (flag) return flag.slice(name.length + 3);
  return process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? def;
}

const ROUTES = Number(opt('routes', '10000'));
const DIMS = Number(opt('dims', '384'));
const QUERIES = Number(opt('queries', '100000'));
const EXACT = Number(opt('exact', '5000'));
const REAL = ['1', 'true'].includes(opt('real', 'true'));
const SYNTHETIC = ['1', 'true'].includes(opt('synthetic', 'true'));
const MODEL = 'local:all-MiniLM-L6-v2';

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const line = (label: string, s: ReturnType<typeof summarize>, unitLabel = 'ms', d = 3) =>
  console.log(`  ${label.padEnd(38)} p50 ${fmt(s.p50, d)}  p99 ${fmt(s.p99, d)}  p99.9 ${fmt(s.p999, d)}  max ${fmt(s.max, d)} ${unitLabel}  (n=${s.count})`);

/** An embedder stub with the manifest's model id, for loading without a model. */
const stub = (id: string, dims: number): Embedder => ({ id, dims, embed: async () => Promise.reject(new Error('stub')) });

/** Synthetic routes: 10% template, 20% adapter, the rest on the cheap or frontier model. */
function routesFor(centroids: Float32Array[]): SyntheticRoute[] {
  return centroids.map((centroid, i): SyntheticRoute => {
    const id = `r${String(i).padStart(6, '0')}`;
    if (i % 10 === 0)
      return {
        id,
        centroid,
        tier: 'template',
        target: { template: `Order {{id}}: answer ${i}.`, script: null, candidateId: `cand_${i}`, version: 1 },
        threshold: 0.7,
      };
    if (i % 10 < 3)
      return {
        id,
        centroid,
        tier: 'adapter',
        target: { adapter: `adapter-${i}`, baseModel: 'Qwen/Qwen2.5-0.5B-Instruct', uri: `s3://bucket/adapters/${i}/` },
        threshold: 0.7,
      };
    return { id, centroid, tier: i % 2 ? 'cheap' : 'frontier', target: { model: i % 2 ? 'gpt-4o-mini' : 'gpt-4o' }, threshold: 0.7 };
  });
}

function clusteredCentroids(n: number, dims: number, topics: number, seed: number): Float32Array[] {
  const r = rng(seed);
  const t = Array.from({ length: topics }, () => randomUnit(dims, r));
  return Array.from({ length: n }, (_, i) => near(t[i % topics]!, 0.8 + 0.15 * r.next(), r));
}

function queriesNear(centroids: Float32Array[], n: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, k) =>
    k % 10 === 9 ? randomUnit(centroids[0]!.length, r) : near(centroids[Math.floor(r.next() * centroids.length)]!, 0.5 + 0.48 * r.next(), r),
  );
}

function agreement(index: NearestIndex, queries: Float32Array[]): { agree: number; n: number; reranked: number; uncertified: number } {
  const before = { ...index.stats };
  let agree = 0;
  for (const q of queries) if (index.nearest(q)!.index === index.exactNearest(q)!.index) agree++;
  return {
    agree,
    n: queries.length,
    reranked: (index.stats.reranked - before.reranked) / queries.length,
    uncertified: index.stats.uncertified - before.uncertified,
  };
}

async function synthetic(dir: string): Promise<void> {
  console.log(`\n1. load: ${ROUTES} routes × ${DIMS} dims (random unit centroids)`);
  const r = rng(42);
  const centroids = Array.from({ length: ROUTES }, () => randomUnit(DIMS, r));
  const manifest = syntheticManifest({ model: MODEL, dims: DIMS, routes: routesFor(centroids) });
  const file = path.join(dir, 'v1.json');
  await writeFile(file, JSON.stringify(manifest, null, 2));
  const phases: Record<string, number[]> = {
    read: [],
    'JSON.parse': [],
    'validate (schema + centroids)': [],
    'content hash': [],
    'index build': [],
    'Router.create (all of it)': [],
  };
  let size = 0;
  for (let rep = 0; rep < 5; rep++) {
    let t = process.hrtime.bigint();
    const text = await readFile(file, 'utf8');
    size = text.length;
    phases.read!.push(ms(t));
    t = process.hrtime.bigint();
    const value = JSON.parse(text) as unknown;
    phases['JSON.parse']!.push(ms(t));
    t = process.hrtime.bigint();
    const m = validateManifest(value);
    phases['validate (schema + centroids)']!.push(ms(t));
    t = process.hrtime.bigint();
    verifyManifest(m);
    phases['content hash']!.push(ms(t));
    t = process.hrtime.bigint();
    compileManifest(m);
    phases['index build']!.push(ms(t));
    t = process.hrtime.bigint();
    await Router.create({ source: file, embedder: stub(MODEL, DIMS) });
    phases['Router.create (all of it)']!.push(ms(t));
  }
  console.log(`  manifest file ${(size / 1e6).toFixed(1)} MB; median of 5 loads:`);
  for (const [k, v] of Object.entries(phases)) console.log(`  ${k.padEnd(38)} ${fmt(median(v), 1).padStart(7)} ms`);

  // A background refresh to the next version: how long the event loop is held at a stretch (the router keeps
  // answering between the load phases).
  const live = await Router.create({ source: file, embedder: stub(MODEL, DIMS) });
  await writeFile(file, JSON.stringify(syntheticManifest({ model: MODEL, dims: DIMS, version: 2, routes: routesFor(centroids) }), null, 2));
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t = process.hrtime.bigint();
  const res = await live.refresh();
  const total = ms(t);
  h.disable();
  console.log(`  refresh to v2 (${res.status}) ${fmt(total, 0)} ms in all; longest event-loop stall ${fmt(h.max / 1e6, 0)} ms`);

  const router = await Router.create({ source: file, embedder: stub(MODEL, DIMS) });
  const compiled = compileManifest(router.manifest);
  console.log(`\n2. resolveVector: ${QUERIES} queries (cosine 0.5–0.98 to a random route, 1 in 10 random), kernel ${compiled.index.kernel}`);
  const distinct = Math.min(QUERIES, 20_000);
  const qs = queriesNear(centroids, distinct, 7);
  const text = 'where is my order 12345?';
  const n = normalizeQuery(text);
  for (let k = 0; k < 3000; k++) router.resolveVector(qs[k % distinct]!, text);
  const full = new Float64Array(QUERIES);
  const tiers: Record<string, number> = {};
  for (let k = 0; k < QUERIES; k++) {
    const q = qs[k % distinct]!;
    const t = process.hrtime.bigint();
    const res = resolveCompiled(compiled, q, text, n);
    full[k] = ms(t);
    tiers[res.routeId ? res.tier : 'fallback'] = (tiers[res.routeId ? res.tier : 'fallback'] ?? 0) + 1;
  }
  const nearestOnly = new Float64Array(QUERIES);
  for (let k = 0; k < QUERIES; k++) {
    const q = qs[k % distinct]!;
    const t = process.hrtime.bigint();
    compiled.index.nearest(q);
    nearestOnly[k] = ms(t);
  }
  const exact = new Float64Array(500);
  for (let k = 0; k < exact.length; k++) {
    const t = process.hrtime.bigint();
    compiled.index.exactNearest(qs[k]!);
    exact[k] = ms(t);
  }
  line('resolveVector (full decision)', summarize(full));
  line('  nearest route only', summarize(nearestOnly));
  line('  plain exact JS scan, for comparison', summarize(exact));
  console.log(
    `  outcomes: ${Object.entries(tiers)
      .map(([k, v]) => `${k} ${pct(v / QUERIES)}`)
      .join(', ')}`,
  );
  const stats = compiled.index.stats;
  console.log(
    `  routes re-checked exactly per query: ${(stats.reranked / stats.queries).toFixed(2)}; band overflows (not certified exact): ${stats.uncertified}`,
  );

  console.log(`\n   agreement with an exact scan (${EXACT} queries per scenario):`);
  const a1 = agreement(compiled.index, qs.slice(0, EXACT));
  console.log(
    `  random centroids       ${pct(a1.agree / a1.n)} (${a1.n - a1.agree} differ), re-checked ${a1.reranked.toFixed(2)}/query, uncertified ${a1.uncertified}`,
  );
  const cc = clusteredCentroids(ROUTES, DIMS, 200, 5);
  const cIndex = compileManifest(syntheticManifest({ model: MODEL, dims: DIMS, routes: routesFor(cc) })).index;
  const cq = queriesNear(cc, EXACT, 9);
  const a2 = agreement(cIndex, cq);
  for (let k = 0; k < 2000; k++) cIndex.nearest(cq[k % cq.length]!);
  const ct = new Float64Array(cq.length);
  for (let k = 0; k < cq.length; k++) {
    const t = process.hrtime.bigint();
    cIndex.nearest(cq[k]!);
    ct[k] = ms(t);
  }
  console.log(
    `  clustered (200 topics) ${pct(a2.agree / a2.n)} (${a2.n - a2.agree} differ), re-checked ${a2.reranked.toFixed(2)}/query, uncertified ${a2.uncertified}`,
  );
  line('  clustered: nearest route only', summarize(ct));
}

async function real(dir: string): Promise<void> {
  console.log('\n3. resolve() with the local embedder (normalise + embed + resolve), banking77');
  let embedder: Awaited<ReturnType<typeof createEmbedder>>;
  try {
    embedder = await createEmbedder(loadConfig().embeddings);
  } catch (err) {
    console.log(`  skipped: ${(err as Error).message}`);
    return;
  }
  try {
    const byLabel = new Map<string, string[]>();
    for (const e of loadSharedDataset('banking77')) byLabel.set(e.label, [...(byLabel.get(e.label) ?? []), e.query]);
    const embed = async (texts: string[]) => embedder.embed(texts.map((t) => normalizeQuery(t).text));
    const routes: SyntheticRoute[] = [];
    const heldOut: Array<{ query: string; label: string }> = [];
    for (const [label, qs] of byLabel) {
      const vs = await embed(qs.slice(0, 20));
      const c = new Float32Array(embedder.dims);
      for (const v of vs) for (let d = 0; d < c.length; d++) c[d]! += v[d]!;
      routes.push({ id: label, centroid: unit(c), tier: 'cheap', target: { model: 'gpt-4o-mini' }, threshold: 0.5 });
      for (const q of qs.slice(20, 24)) heldOut.push({ query: q, label });
    }
    const r = rng(3);
    while (routes.length < ROUTES)
      routes.push({ id: `pad${routes.length}`, centroid: randomUnit(embedder.dims, r), tier: 'frontier', target: { model: 'gpt-4o' }, threshold: 0.7 });
    const file = path.join(dir, 'banking.json');
    await writeFile(file, JSON.stringify(syntheticManifest({ model: embedder.id, dims: embedder.dims, routes })));
    const router = await Router.create({ source: file, embedder });
    for (const h of heldOut.slice(0, 20)) await router.resolve(h.query);
    const total: number[] = [];
    const embedOnly: number[] = [];
    const decide: number[] = [];
    let own = 0;
    let fallback = 0;
    for (const h of heldOut) {
      let t = process.hrtime.bigint();
      const res = await router.resolve(h.query);
      total.push(ms(t));
      if (res.routeId === h.label) own++;
      if (!res.routeId) fallback++;
      t = process.hrtime.bigint();
      const [v] = await embedder.embed([normalizeQuery(h.query).text]);
      embedOnly.push(ms(t));
      t = process.hrtime.bigint();
      router.resolveVector(v!, h.query);
      decide.push(ms(t));
    }
    console.log(`  ${heldOut.length} held-out queries, ${routes.length} routes (77 intents + random padding), one query at a time:`);
    line('resolve() total', summarize(total), 'ms', 2);
    line('  embedding alone', summarize(embedOnly), 'ms', 2);
    line('  resolveVector alone', summarize(decide), 'ms', 3);
    console.log(
      `  landed on its own intent ${pct(own / heldOut.length)}, fallback ${pct(fallback / heldOut.length)} (threshold 0.5; intent centroids from 20 queries each)`,
    );

    // Dense real manifest: every distinct training query is a route.
    const texts = [...new Set([...loadSharedDataset('banking77'), ...loadSharedDataset('hwu64')].map((e) => normalizeQuery(e.query).text))];
    const r2 = rng(11);
    for (let i = texts.length - 1; i > 0; i--) {
      const j = Math.floor(r2.next() * (i + 1));
      [texts[i], texts[j]] = [texts[j]!, texts[i]!];
    }
    const nRoutes = Math.min(4000, texts.length - 1000);
    const t0 = process.hrtime.bigint();
    const vs = await embedder.embed(texts.slice(0, nRoutes + 1000));
    const embedMs = ms(t0);
    const m = new Float32Array(nRoutes * embedder.dims);
    for (let i = 0; i < nRoutes; i++) m.set(vs[i]!, i * embedder.dims);
    const index = NearestIndex.build(m, nRoutes, embedder.dims, { kernel: 'simd' });
    const a = agreement(index, vs.slice(nRoutes));
    console.log(
      `\n   dense real manifest: ${nRoutes} routes = distinct banking77/hwu64 queries (embedded in ${(embedMs / 1000).toFixed(1)} s), 1000 other queries:`,
    );
    console.log(
      `  agreement with an exact scan ${pct(a.agree / a.n)} (${a.n - a.agree} differ), re-checked ${a.reranked.toFixed(2)}/query, uncertified ${a.uncertified}`,
    );
  } finally {
    await embedder.close?.();
  }
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-router-'));
try {
  console.log(`router benchmark on ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, node ${process.version}`);
  if (SYNTHETIC) await synthetic(dir);
  if (REAL) await real(dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
