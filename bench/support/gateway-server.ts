/**
 * The gateway as its own process for bench/gateway.ts (so the load generator and the fake upstream do not share its
 * event loop). Configured by the parent through the environment; sends `{ type: 'ready', url }` over IPC when
 * listening. Commands: `{ cmd: 'shadow', rate }` sets the shadow rate (the benchmark alternates shadowed and
 * unshadowed blocks in one process), `{ cmd: 'settle' }` waits for the background work so far (→ `settled`),
 * `{ cmd: 'cpu' }` answers the process's CPU time so far (→ `cpu`, µs), `{ cmd: 'stop' }` drains (shadow checks,
 * logs, the savings ledger) and exits.
 */
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db/client';
import { createEmbedder } from '../../src/embeddings';
import { Gateway } from '../../src/gateway/gateway';
import { buildGatewayServer } from '../../src/gateway/server';
import { Upstreams } from '../../src/gateway/upstream';

async function main() {
  const env = process.env;
  const database = openDatabase({ kind: 'postgres', url: env.BENCH_DB_URL!, poolMax: 10 });
  const embedder = await createEmbedder(loadConfig({}).embeddings);
  const gateway = new Gateway({
    db: database.db,
    embedder,
    upstreams: new Upstreams({ frontier: { baseURL: env.BENCH_UPSTREAM! }, timeoutMs: 10_000, retries: 0 }),
    manifestSource: () => env.BENCH_MANIFEST!,
    load: {},
    refreshMs: 0,
    shadowRate: Number(env.BENCH_SHADOW_RATE ?? 0),
    ramp: { shares: [1], judgedPerStep: 0 },
    allowSystem: true,
    embedCacheSize: Number(env.BENCH_EMBED_CACHE ?? 10_000),
  });
  const app = await buildGatewayServer({ gateway, api: loadConfig({}).api, limits: { requestsPerMinute: 0, tokensPerDay: 0 }, logLevel: 'silent' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.on('message', (m: { cmd?: string; rate?: number }) => {
    if (m.cmd === 'shadow') gateway.opts.shadowRate = m.rate!;
    else if (m.cmd === 'settle') void gateway.settle().then(() => process.send!({ type: 'settled' }));
    else if (m.cmd === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ type: 'cpu', us: u.user + u.system });
    } else if (m.cmd === 'stop')
      void (async () => {
        await app.close();
        await gateway.close();
        await embedder.close?.();
        await database.close();
        process.send!({ type: 'stopped' }, () => process.exit(0));
      })();
  });
  process.send!({ type: 'ready', url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
