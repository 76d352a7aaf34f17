/**
 * Gateway benchmark (run by hand: `npx tsx bench/gateway.ts [--seconds=10] [--rate=200] [--upstream-ms=20]
 * [--cpu-prof=DIR]`). Needs the machine's Postgres (as the integration tests) and the local MiniLM model
 * (scripts/setup). Prints one table:
 *
 *   1. template-served requests end to end (HTTP, auth, masking, local MiniLM embedding of the query, nearest route,
 *      render, JSON) at `rate` req/s open loop: p50 / p99, measured by the client; with the gateway's vector cache of
 *      masked texts (the ids vary, the masked texts repeat, as template traffic does) and without it.
 *   2. a forwarded request (frontier, logged as an interaction in the background) against the same fake upstream
 *      called directly, both at `rate / 2` req/s open loop, in alternating 1 s blocks (so both see the same machine):
 *      p50 / p99 and the difference.
 *   3. sustained template requests/s, closed loop with 16 connections.
 *   4. shadow checks: template requests at `rate` req/s in alternating 1 s blocks, every request shadowed (a teacher
 *      call, a judgement and a database write each, after the answer went out) or none; the gateway settles its
 *      background work between blocks. The difference is the latency shadowing adds.
 *
 * Three processes: the load generator (this one, which measures), the gateway (bench/support/gateway-server.ts) and
 * the fake upstream (bench/support/fake-upstream.ts, answering after `--upstream-ms`); they and Postgres share the
 * machine's cores, so each figure prints the load it ran under (1-minute load average at its end, the machine's CPU
 * busy share and the gateway process's CPU during it). `--cpu-prof=DIR` writes the gateway's V8 CPU profiles there.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { createEmbedder } from '../src/embeddings';
import { loadShadowStats } from '../src/gateway/store';
import { createApiKey } from '../src/keys/store';
import { syntheticManifest } from '../src/router/synthetic';
import { normalizeQuery } from '../src/serving/normalize';
import { ensureTenant } from '../src/tenants/store';
import { createTestDatabase } from '../test/support/postgres';
import { INTENTS } from './support/gateway-intents';
import { postJson } from './support/http';
import { type Summary, fmt, machineCpuTicks, summarize } from './support/stats';

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return Number(a ? a.split('=')[1] : (process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? dflt));
};
const SECONDS = arg('seconds', 10);
const RATE = arg('rate', 200);
const UPSTREAM_MS = arg('upstream-ms', 20);
const CPU_PROF = process.argv.find((x) => x.startsWith('--cpu-prof='))?.split('=')[1];
const tenant = 'bench-gateway';

interface Child {
  child: ChildProcess;
  url: string;
  /** Sends a command and waits for the answer of `type`. */
  ask<T = Record<string, unknown>>(cmd: Record<string, unknown>, type: string): Promise<T>;
  stop(): Promise<void>;
}

/** A TypeScript script in its own Node process that sends `{ type: 'ready', url }` over IPC. */
async function forkTs(script: string, env: Record<string, string>, execArgv: string[] = []): Promise<Child> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    execArgv: ['--import', tsx, ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
    child.on('message', (m: { type: string; url?: string }) => m.type === 'ready' && resolve(m.url!));
  });
  const ask = <T>(cmd: Record<string, unknown>, type: string) =>
    new Promise<T>((resolve) => {
      const on = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m as T);
      };
      child.on('message', on);
      child.send(cmd);
    });
  return {
    child,
    url,
    ask,
    stop: async () => {
      child.removeAllListeners('exit');
      await ask({ cmd: 'stop' }, 'stopped');
    },
  };
}

/** What the machine did during a figure: load average at its end, CPU busy share, the gateway's CPU share of one core. */
interface Load {
  load1: number;
  busy: number;
  gatewayCore: number;
}

async function main() {
  const dbh = await createTestDatabase('bench_gateway');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-gateway-'));
  const embedder = await createEmbedder(loadConfig({}).embeddings);
  const upstream = await forkTs('./support/fake-upstream.ts', { BENCH_UPSTREAM_MS: String(UPSTREAM_MS) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const loadAtStart = os.loadavg()[0]!;
  try {
    const db = dbh.database.db;
    await ensureTenant(db, tenant);
    const key = await createApiKey(db, tenant, { name: 'bench', scopes: ['ingest'] });
    const vectors = await embedder.embed(INTENTS.map(([q]) => normalizeQuery(q).text));
    const manifest = syntheticManifest({
      tenant,
      model: embedder.id,
      dims: embedder.dims,
      routes: INTENTS.map(([, template], i) => ({
        id: `c_${i}`,
        tier: 'template' as const,
        centroid: vectors[i]!,
        threshold: 0.8,
        target: { template, script: null, candidateId: `g_${i}`, version: 1 },
      })),
    });
    const file = path.join(tmp, 'manifest.json');
    await writeFile(file, JSON.stringify(manifest));
    /** A gateway process with its settings; the figures of each phase come from its own process. */
    const serve = (embedCacheSize: number, shadowRate: number) =>
      forkTs(
        './support/gateway-server.ts',
        {
          BENCH_DB_URL: dbh.url,
          BENCH_MANIFEST: file,
          BENCH_UPSTREAM: upstream.url,
          BENCH_EMBED_CACHE: String(embedCacheSize),
          BENCH_SHADOW_RATE: String(shadowRate),
        },
        CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [],
      );
    const up = new URL(upstream.url);
    const auth = { authorization: `Bearer ${key}` };

    let n = 0;
    const templateBody = () => {
      const [q] = INTENTS[n++ % INTENTS.length]!;
      return JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: q.replace(/\d+/, String(10000 + (n % 89999))) }] });
    };
    const frontierBody = () => JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `tell me something new ${n++}` }] });

    const call = async (url: URL, p: string, body: string, headers: Record<string, string>, expectTier?: string) => {
      const t0 = performance.now();
      const r = await postJson(agent, url, p, body, headers, 30_000);
      const ms = performance.now() - t0;
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      if (expectTier === 'template' && !r.body.includes('"total_tokens":0')) {
        const again = await fetch(new URL(p, url), { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
        throw new Error(
          `expected a template answer, got the ${again.headers.get('x-distillery-tier')} tier (${again.headers.get('x-distillery-reason')}): ${body}`,
        );
      }
      return ms;
    };

    /** Open loop: requests start on a fixed schedule whatever the answers do (no coordinated omission). */
    async function openLoop(rate: number, seconds: number, send: () => Promise<number>, out: number[] = []): Promise<number[]> {
      const pending: Array<Promise<void>> = [];
      const start = performance.now();
      const total = Math.round(rate * seconds);
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        pending.push(
          send().then(() => {
            // From the scheduled start: a request that waited for the event loop counts its wait.
            out.push(performance.now() - due);
          }),
        );
      }
      await Promise.all(pending);
      return out;
    }

    /**
     * Two series at `rate` each, in alternating 1 s open-loop blocks (A B B A A B …, so neither always goes first),
     * `seconds` blocks each; `between` runs before each block (not measured).
     */
    async function alternate(rate: number, seconds: number, a: () => Promise<number>, b: () => Promise<number>, between?: (which: 'a' | 'b') => Promise<void>) {
      const sa: number[] = [];
      const sb: number[] = [];
      for (let i = 0; i < 2 * seconds; i++) {
        const which = (i >> 1) % 2 === i % 2 ? 'a' : 'b';
        await between?.(which);
        await openLoop(rate, 1, which === 'a' ? a : b, which === 'a' ? sa : sb);
      }
      return [summarize(sa), summarize(sb)] as const;
    }

    async function closedLoop(connections: number, seconds: number, send: () => Promise<number>): Promise<number> {
      let done = 0;
      const end = performance.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < end) {
            await send();
            done++;
          }
        }),
      );
      return done / seconds;
    }

    /** Runs a figure and notes the load it ran under. */
    async function measured<T>(g: Child, run: () => Promise<T>): Promise<[T, Load]> {
      const c0 = machineCpuTicks();
      const g0 = (await g.ask<{ us: number }>({ cmd: 'cpu' }, 'cpu')).us;
      const t0 = performance.now();
      const r = await run();
      const wallUs = (performance.now() - t0) * 1000;
      const g1 = (await g.ask<{ us: number }>({ cmd: 'cpu' }, 'cpu')).us;
      const c1 = machineCpuTicks();
      const busy = c0 && c1 ? (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total) : NaN;
      return [r, { load1: os.loadavg()[0]!, busy, gatewayCore: (g1 - g0) / wallUs }];
    }

    const template = (g: Child) => () => call(new URL(g.url), '/v1/chat/completions', templateBody(), auth, 'template');
    const forwarded = (g: Child) => () => call(new URL(g.url), '/v1/chat/completions', frontierBody(), { ...auth, 'x-distillery-teacher': 'true' });
    const direct = () => call(up, '/v1/chat/completions', frontierBody(), {});
    const half = Math.max(1, Math.round(RATE / 2));

    // Phase 1: the vector cache on, no shadow checks.
    let g = await serve(10_000, 0);
    await openLoop(100, 2, template(g)); // warm-up: the model, the JIT, the connections
    await openLoop(50, 1, forwarded(g));
    await openLoop(50, 1, direct);
    const [t, tLoad] = await measured(g, async () => summarize(await openLoop(RATE, SECONDS, template(g))));
    const [[d, f], fLoad] = await measured(g, () => alternate(half, SECONDS, direct, forwarded(g)));
    const [rps, rpsLoad] = await measured(g, () => closedLoop(16, SECONDS, template(g)));
    await g.stop();
    // Phase 2: every query embedded by the model.
    g = await serve(0, 0);
    await openLoop(50, 2, template(g));
    const [tu, tuLoad] = await measured(g, async () => summarize(await openLoop(RATE, SECONDS, template(g))));
    const rpsUncached = await closedLoop(16, SECONDS, template(g));
    await g.stop();
    // Phase 3: shadowed and unshadowed blocks in one gateway.
    g = await serve(10_000, 1);
    await openLoop(100, 2, template(g));
    const [[plain, shadowed], sLoad] = await measured(g, () =>
      alternate(RATE, SECONDS, template(g), template(g), async (which) => {
        await g.ask({ cmd: 'settle' }, 'settled');
        g.child.send({ cmd: 'shadow', rate: which === 'b' ? 1 : 0 });
      }),
    );
    await g.stop();
    const judged = (await loadShadowStats(db, tenant)).reduce((a, r) => a + r.judged, 0);

    const pct = (x: number) => `${fmt(100 * x, 0)}%`;
    const load = (l: Load) => `${fmt(l.load1, 1)} / ${pct(l.busy)} / ${pct(l.gatewayCore)}`;
    const row = (what: string, s: Pick<Summary, 'p50' | 'p99'>, goal: string, l?: Load) =>
      console.log(`| ${what} | ${fmt(s.p50, 2)} ms | ${fmt(s.p99, 2)} ms | ${goal} | ${l ? load(l) : ''} |`);
    const diff = (a: Summary, b: Summary) => ({ p50: a.p50 - b.p50, p99: a.p99 - b.p99 });
    console.log(
      `\ngateway benchmark: ${SECONDS} s per figure, embedder ${embedder.id}, fake upstream answers after ${UPSTREAM_MS} ms, ` +
        `${os.cpus().length} CPUs, load average ${fmt(loadAtStart, 2)} at start, ${fmt(os.loadavg()[0]!, 2)} at end`,
    );
    console.log('| figure | p50 | p99 | goal | load 1m / machine CPU busy / gateway CPU (of one core) |');
    console.log('| --- | --- | --- | --- | --- |');
    row(`template-served, end to end incl. local embedding, ${RATE} req/s open loop (${t.count} requests)`, t, '≤ 5 / ≤ 15 ms', tLoad);
    row('the same, every query embedded by the model (no vector cache; concurrent queries batched)', tu, '', tuLoad);
    row(`upstream called directly, ${half} req/s open loop (alternating 1 s blocks with the next)`, d, '', fLoad);
    row(`forwarded through the gateway (frontier, interaction logged), ${half} req/s`, f, '', fLoad);
    row('forwarding overhead (gateway − direct)', diff(f, d), 'p99 ≤ 2 ms', fLoad);
    console.log(
      `| sustained template requests/s, closed loop, 16 connections | ${fmt(rps, 0)} req/s (${fmt(rpsUncached, 0)} without the vector cache) | | printed | ${load(rpsLoad)} |`,
    );
    row(`template-served, ${RATE} req/s, unshadowed blocks (alternating 1 s blocks with the next)`, plain, '', sLoad);
    row(`template-served, ${RATE} req/s, every request shadowed (${judged} judged)`, shadowed, '', sLoad);
    row('shadow checks: added latency (shadowed − not)', diff(shadowed, plain), '0 (asynchronous)', sLoad);
  } finally {
    agent.destroy();
    await upstream.stop();
    await (embedder as { close?: () => Promise<void> }).close?.();
    await dbh.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
