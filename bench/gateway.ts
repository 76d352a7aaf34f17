/**
 * Gateway benchmark (run by hand: `npx tsx bench/gateway.ts [--seconds=10] [--rate=200] [--upstream-ms=20]
 * [--cpu-prof=DIR]`). Needs the machine's Postgres (as the integration tests) and the local MiniLM model
 * (scripts/setup). Prints one table:
 *
 *   1. template-served requests end to end (HTTP, auth, masking, local MiniLM embedding of the query, nearest route,
 *      render, JSON) at `rate` req/s open loop: p50 / p99, measured by the client; with the gateway's vector cache of
 *      masked texts (the ids vary, the masked texts repeat, as template traffic does) and without it.
 *   2. a forwarded request (frontier, logged as an interaction in the background) against the same fake upstream
 *      called directly and through a bare node:http proxy (the floor: what one more process and hop costs here),
 *      each at `rate / 2` req/s open loop, in rotating 1 s blocks (so all see the same machine): p50 / p99 and the
 *      differences; and the same with each request's latency less the fake upstream's own time for it (from arrival
 *      to answer: its fixed delay plus however late its timer fired), which all series share and which is not the
 *      gateway's.
 *   3. sustained template requests/s, closed loop with 16 connections.
 *   4. shadow checks: template requests at `rate` req/s in alternating 1 s blocks, every request shadowed (a teacher
 *      call, a judgement and a database write each, after the answer went out) or none; the gateway settles its
 *      background work between blocks. The difference is the latency shadowing adds.
 *
 * Separate processes: the load generator (this one, which measures), the gateway (bench/support/gateway-server.ts),
 * the fake upstream (bench/support/fake-upstream.ts, answering after `--upstream-ms`) and the bare proxy
 * (bench/support/bare-proxy.ts); they and Postgres share the machine's cores, so each figure prints the load it ran
 * under: the 1-minute load average at its end, the machine's CPU busy share, the gateway process's CPU and the cores
 * used by everything but the benchmark's processes (Postgres and any other work on the machine) during it.
 * `--cpu-prof=DIR` writes the gateway's V8 CPU profiles there.
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

/**
 * What the machine did during a figure: load average at its end, CPU busy share (of all cores), the gateway's CPU
 * (share of one core), and that of everything but the benchmark's three processes (Postgres and other work).
 */
interface Load {
  load1: number;
  busy: number;
  gatewayCore: number;
  othersCores: number;
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
    /** A frontier request's body and its key (its only message, unique: the fake upstream reports its own time by it). */
    const frontierBody = () => {
      const key = `tell me something new ${n++}`;
      return { key, body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: key }] }) };
    };

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
    async function openLoop(rate: number, seconds: number, send: () => Promise<unknown>, out: number[] = [], keyed?: Map<string, number>): Promise<number[]> {
      const pending: Array<Promise<void>> = [];
      const start = performance.now();
      const total = Math.round(rate * seconds);
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        pending.push(
          send().then((key) => {
            // From the scheduled start: a request that waited for the event loop counts its wait.
            const ms = performance.now() - due;
            out.push(ms);
            if (keyed && typeof key === 'string') keyed.set(key, ms);
          }),
        );
      }
      await Promise.all(pending);
      return out;
    }

    /**
     * Series at `rate` each in 1 s open-loop blocks, `seconds` blocks each, their order rotating each round (so none
     * always goes first or follows the same one); `between` runs before each block (not measured).
     */
    async function alternate(rate: number, seconds: number, sends: Array<() => Promise<unknown>>, between?: (series: number) => Promise<void>) {
      const out = sends.map(() => ({ all: [] as number[], keyed: new Map<string, number>() }));
      for (let round = 0; round < seconds; round++)
        for (let j = 0; j < sends.length; j++) {
          // Rotated every other round and reversed every other: two series go A B, B A, B A, A B, …; three take all orders.
          const k = (Math.floor(round / 2) + (round % 2 ? sends.length - 1 - j : j)) % sends.length;
          await between?.(k);
          await openLoop(rate, 1, sends[k]!, out[k]!.all, out[k]!.keyed);
        }
      return out.map((o) => ({ summary: summarize(o.all), keyed: o.keyed }));
    }

    /** Latencies less the fake upstream's own time for each request (its timer fires late under load, for both). */
    function netOfUpstream(keyed: Map<string, number>, served: Record<string, number>): Summary {
      const net: number[] = [];
      for (const [k, ms] of keyed) if (served[k] !== undefined) net.push(ms - served[k]);
      return summarize(net);
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
      const cpu = async () => {
        const me = process.cpuUsage();
        const [gw, upc] = await Promise.all([g.ask<{ us: number }>({ cmd: 'cpu' }, 'cpu'), upstream.ask<{ us: number }>({ cmd: 'cpu' }, 'cpu')]);
        return { gateway: gw.us, ours: gw.us + upc.us + me.user + me.system };
      };
      const c0 = machineCpuTicks();
      const p0 = await cpu();
      const t0 = performance.now();
      const r = await run();
      const wallUs = (performance.now() - t0) * 1000;
      const p1 = await cpu();
      const c1 = machineCpuTicks();
      const cores = os.cpus().length;
      const busy = c0 && c1 ? (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total) : NaN;
      return [
        r,
        {
          load1: os.loadavg()[0]!,
          busy,
          gatewayCore: (p1.gateway - p0.gateway) / wallUs,
          othersCores: Math.max(0, busy * cores - (p1.ours - p0.ours) / wallUs),
        },
      ];
    }

    const template = (g: Child) => () => call(new URL(g.url), '/v1/chat/completions', templateBody(), auth, 'template');
    const forwarded = (g: Child) => async () => {
      const { key, body } = frontierBody();
      await call(new URL(g.url), '/v1/chat/completions', body, { ...auth, 'x-distillery-teacher': 'true' });
      return key;
    };
    const plainCall = (url: URL) => async () => {
      const { key, body } = frontierBody();
      await call(url, '/v1/chat/completions', body, {});
      return key;
    };
    const direct = plainCall(up);
    const bare = await forkTs('./support/bare-proxy.ts', { BENCH_UPSTREAM: upstream.url });
    const half = Math.max(1, Math.round(RATE / 2));

    // Phase 1: the vector cache on, no shadow checks.
    let g = await serve(10_000, 0);
    await openLoop(100, 2, template(g)); // warm-up: the model, the JIT, the connections
    await openLoop(50, 1, forwarded(g));
    await openLoop(50, 1, direct);
    await openLoop(50, 1, plainCall(new URL(bare.url)));
    const [t, tLoad] = await measured(g, async () => summarize(await openLoop(RATE, SECONDS, template(g))));
    await upstream.ask({ cmd: 'served' }, 'served'); // forget the warm-up's
    const [[dr, br, fr], fLoad] = await measured(g, () => alternate(half, SECONDS, [direct, plainCall(new URL(bare.url)), forwarded(g)]));
    await bare.stop();
    const { served } = await upstream.ask<{ served: Record<string, number> }>({ cmd: 'served' }, 'served');
    const [d, b, f] = [dr!.summary, br!.summary, fr!.summary];
    const [dNet, bNet, fNet] = [dr!, br!, fr!].map((r) => netOfUpstream(r.keyed, served)) as [Summary, Summary, Summary];
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
    const [[pr, sr], sLoad] = await measured(g, () =>
      alternate(RATE, SECONDS, [template(g), template(g)], async (series) => {
        await g.ask({ cmd: 'settle' }, 'settled');
        g.child.send({ cmd: 'shadow', rate: series === 1 ? 1 : 0 });
      }),
    );
    const [plain, shadowed] = [pr!.summary, sr!.summary];
    await g.stop();
    const judged = (await loadShadowStats(db, tenant)).reduce((a, r) => a + r.judged, 0);

    const pct = (x: number) => `${fmt(100 * x, 0)}%`;
    const load = (l: Load) => `${fmt(l.load1, 1)} / ${pct(l.busy)} / ${pct(l.gatewayCore)} / ${fmt(l.othersCores, 2)}`;
    const row = (what: string, s: Pick<Summary, 'p50' | 'p99'>, goal: string, l?: Load) =>
      console.log(`| ${what} | ${fmt(s.p50, 2)} ms | ${fmt(s.p99, 2)} ms | ${goal} | ${l ? load(l) : ''} |`);
    const diff = (a: Summary, b: Summary) => ({ p50: a.p50 - b.p50, p99: a.p99 - b.p99 });
    console.log(
      `\ngateway benchmark: ${SECONDS} s per figure, embedder ${embedder.id}, fake upstream answers after ${UPSTREAM_MS} ms, ` +
        `${os.cpus().length} CPUs, load average ${fmt(loadAtStart, 2)} at start, ${fmt(os.loadavg()[0]!, 2)} at end`,
    );
    console.log('| figure | p50 | p99 | goal | load 1m / machine CPU busy / gateway CPU (of one core) / cores used by all else (Postgres, other work) |');
    console.log('| --- | --- | --- | --- | --- |');
    row(`template-served, end to end incl. local embedding, ${RATE} req/s open loop (${t.count} requests)`, t, '≤ 5 / ≤ 15 ms', tLoad);
    row('the same, every query embedded by the model (no vector cache; concurrent queries batched)', tu, '', tuLoad);
    row(`upstream called directly, ${half} req/s open loop (1 s blocks rotating with the next two)`, d, '', fLoad);
    row(`through a bare node:http proxy (the floor: one more process and hop), ${half} req/s`, b, '', fLoad);
    row(`forwarded through the gateway (frontier, interaction logged), ${half} req/s`, f, '', fLoad);
    row('forwarding overhead (gateway − direct)', diff(f, d), 'p99 ≤ 2 ms', fLoad);
    row('bare proxy overhead (proxy − direct), for scale', diff(b, d), '', fLoad);
    const net = (x: Summary) => `${fmt(x.p50, 2)} / ${fmt(x.p99, 2)}`;
    row(
      `forwarding overhead, each request net of the fake upstream's own time (${fNet.count} requests; direct ${net(dNet)}, proxy ${net(bNet)}, gateway ${net(fNet)} ms)`,
      diff(fNet, dNet),
      'p99 ≤ 2 ms',
      fLoad,
    );
    console.log(
      `| sustained template requests/s, closed loop, 16 connections | ${fmt(rps, 0)} req/s (${fmt(rpsUncached, 0)} without the vector cache) | | printed | ${load(rpsLoad)} |`,
    );
    row(`template-served, ${RATE} req/s, unshadowed blocks (1 s blocks alternating with the next)`, plain, '', sLoad);
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
