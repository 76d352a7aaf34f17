/**
 * Gateway benchmark (run by hand: `npx tsx bench/gateway.ts [--seconds=10] [--rate=200]`). Needs the machine's
 * Postgres (as the integration tests) and the local MiniLM model (scripts/setup). Prints one table:
 *
 *   1. template-served requests end to end (HTTP, auth, masking, local MiniLM embedding of the query, nearest route,
 *      render, JSON) at `rate` req/s open loop: p50 / p99, measured by the client; with the gateway's vector cache of
 *      masked texts (the ids vary, the masked texts repeat, as template traffic does) and without it.
 *   2. a forwarded request (frontier, logged as an interaction in the background) against the same fake upstream
 *      called directly, both at `rate / 2` req/s open loop: p50 / p99 and the difference.
 *   3. sustained template requests/s, closed loop with 16 connections.
 *   4. shadow checks: the template figure again with every request shadowed (a teacher call, a judgement and a
 *      database write each, after the answer went out): the difference is the latency shadowing adds.
 *
 * The gateway runs in its own process (bench/support/gateway-server.ts); the load generator, the fake upstream and
 * Postgres share the same 2 cores, so the figures are an upper bound on what the gateway alone costs. The fake upstream answers after a fixed delay (`--upstream-ms`).
 */
import { fork } from 'node:child_process';
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
import { renderAnswer } from '../src/serving/render';
import { namedSlots } from '../src/serving/slots';
import { ensureTenant } from '../src/tenants/store';
import { startFakeChat } from '../test/support/fake-chat';
import { createTestDatabase } from '../test/support/postgres';
import { postJson } from './support/http';
import { fmt, summarize } from './support/stats';

const arg = (name: string, dflt: number) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return Number(a ? a.split('=')[1] : (process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? dflt));
};
const SECONDS = arg('seconds', 10);
const RATE = arg('rate', 200);
const UPSTREAM_MS = arg('upstream-ms', 20);
const tenant = 'bench-gateway';

const INTENTS = [
  ['where is my order 48213', 'Order {{id}} ships tomorrow.'],
  ['how do i reset my password', 'Open Settings, then Security, then Reset password.'],
  ['can i change the delivery address for order 55120', 'Yes: open order {{id}} and choose Change address.'],
  ['what are your opening hours', 'We are open 9:00 to 17:00, Monday to Friday.'],
  ['how do i cancel my subscription', 'Open Settings, then Plans, then Cancel.'],
  ['do you ship to canada', 'Yes, we ship to Canada in 5 to 7 days.'],
  ['i was charged twice for order 99812', 'We refunded the second charge on order {{id}}.'],
  ['how can i contact customer support', 'Write to support@example.com or call 0800 123 456.'],
] as const;

async function main() {
  const dbh = await createTestDatabase('bench_gateway');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'bench-gateway-'));
  const embedder = await createEmbedder(loadConfig({}).embeddings);
  const upstream = await startFakeChat('upstream', { delayMs: UPSTREAM_MS, record: false });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
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
    // The teacher agrees with the templates (shadow checks then judge agreement and demote nothing).
    const byText = new Map(INTENTS.map(([q, template]) => [normalizeQuery(q).text, template]));
    upstream.answer = (b) => {
      const q = String(b.messages.at(-1)?.content ?? '');
      const template = byText.get(normalizeQuery(q).text);
      return template ? renderAnswer(template, { query: q, slots: namedSlots(normalizeQuery(q).slots) }) : `upstream answers: ${q}`;
    };
    const file = path.join(tmp, 'manifest.json');
    await writeFile(file, JSON.stringify(manifest));
    /** A gateway process with its settings; the figures of each phase come from its own process. */
    const serve = async (embedCacheSize: number, shadowRate: number) => {
      const script = fileURLToPath(new URL('./support/gateway-server.ts', import.meta.url));
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const child = fork(script, [], {
        execArgv: ['--import', tsx],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: {
          ...process.env,
          LOG_LEVEL: 'warn',
          BENCH_DB_URL: dbh.url,
          BENCH_MANIFEST: file,
          BENCH_UPSTREAM: upstream.baseURL,
          BENCH_EMBED_CACHE: String(embedCacheSize),
          BENCH_SHADOW_RATE: String(shadowRate),
        },
      });
      const url = await new Promise<URL>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`the gateway process exited (${code})`)));
        child.on('message', (m: { type: string; url?: string }) => m.type === 'ready' && resolve(new URL(m.url!)));
      });
      const stop = () =>
        new Promise<void>((resolve) => {
          child.removeAllListeners('exit');
          child.on('message', (m: { type: string }) => m.type === 'stopped' && resolve());
          child.send({ cmd: 'stop' });
        });
      return { url, stop };
    };
    const up = new URL(upstream.baseURL);
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
    async function openLoop(rate: number, seconds: number, send: () => Promise<number>): Promise<number[]> {
      const out: number[] = [];
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

    const template = (g: URL) => () => call(g, '/v1/chat/completions', templateBody(), auth, 'template');
    const forwarded = (g: URL) => () => call(g, '/v1/chat/completions', frontierBody(), { ...auth, 'x-distillery-teacher': 'true' });
    const direct = () => call(up, '/v1/chat/completions', frontierBody(), {});
    const half = Math.max(1, Math.round(RATE / 2));

    // Phase 1: the vector cache on, no shadow checks.
    let g = await serve(10_000, 0);
    await openLoop(100, 2, template(g.url)); // warm-up: the model, the JIT, the connections
    await openLoop(50, 1, forwarded(g.url));
    await openLoop(50, 1, direct);
    const t = summarize(await openLoop(RATE, SECONDS, template(g.url)));
    const d = summarize(await openLoop(half, SECONDS, direct));
    const f = summarize(await openLoop(half, SECONDS, forwarded(g.url)));
    const rps = await closedLoop(16, SECONDS, template(g.url));
    await g.stop();
    // Phase 2: every query embedded by the model.
    g = await serve(0, 0);
    await openLoop(50, 2, template(g.url));
    const tu = summarize(await openLoop(RATE, SECONDS, template(g.url)));
    const rpsUncached = await closedLoop(16, SECONDS, template(g.url));
    await g.stop();
    // Phase 3: every template request shadowed.
    g = await serve(10_000, 1);
    await openLoop(100, 2, template(g.url));
    const shadowed = summarize(await openLoop(RATE, SECONDS, template(g.url)));
    await g.stop();
    const judged = (await loadShadowStats(db, tenant)).reduce((a, r) => a + r.judged, 0);

    console.log(
      `\ngateway benchmark: ${SECONDS} s per figure, embedder ${embedder.id}, fake upstream answers after ${UPSTREAM_MS} ms, ${os.cpus().length} CPUs`,
    );
    console.log('| figure | p50 | p99 | goal |');
    console.log('| --- | --- | --- | --- |');
    console.log(
      `| template-served, end to end incl. local embedding, ${RATE} req/s open loop (${t.count} requests) | ${fmt(t.p50, 2)} ms | ${fmt(t.p99, 2)} ms | ≤ 5 / ≤ 15 ms |`,
    );
    console.log(
      `| the same, every query embedded by the model (no vector cache; concurrent queries batched) | ${fmt(tu.p50, 2)} ms | ${fmt(tu.p99, 2)} ms | |`,
    );
    console.log(`| upstream called directly, ${half} req/s open loop | ${fmt(d.p50, 2)} ms | ${fmt(d.p99, 2)} ms | |`);
    console.log(`| forwarded through the gateway (frontier, interaction logged), ${half} req/s | ${fmt(f.p50, 2)} ms | ${fmt(f.p99, 2)} ms | |`);
    console.log(`| forwarding overhead (gateway − direct) | ${fmt(f.p50 - d.p50, 2)} ms | ${fmt(f.p99 - d.p99, 2)} ms | p99 ≤ 2 ms |`);
    console.log(
      `| sustained template requests/s, closed loop, 16 connections | ${fmt(rps, 0)} req/s (${fmt(rpsUncached, 0)} without the vector cache) | | printed |`,
    );
    console.log(
      `| template-served with every request shadowed, ${RATE} req/s (${judged} judged) | ${fmt(shadowed.p50, 2)} ms | ${fmt(shadowed.p99, 2)} ms | |`,
    );
    console.log(
      `| shadow checks: added latency (shadowed − not) | ${fmt(shadowed.p50 - t.p50, 2)} ms | ${fmt(shadowed.p99 - t.p99, 2)} ms | 0 (asynchronous) |`,
    );
  } finally {
    agent.destroy();
    await upstream.close();
    await (embedder as { close?: () => Promise<void> }).close?.();
    await dbh.drop();
    await rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
