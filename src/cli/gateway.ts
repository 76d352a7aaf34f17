import type { Command } from 'commander';
import { openBlobStore } from '../blob';
import { loadConfig } from '../config';
import { openDatabase } from '../db/client';
import { createEmbedder } from '../embeddings';
import { InputError } from '../errors';
import { loadGatewayConfig } from '../gateway/config';
import { Gateway } from '../gateway/gateway';
import { buildGatewayServer } from '../gateway/server';
import { formatSavings, savingsReport } from '../gateway/savings';
import { Upstreams } from '../gateway/upstream';
import { connectClient } from '../temporal/client';
import { startPublish } from '../temporal/starters';
import { withDb } from './common';

/** `distillery gateway` (OpenAI-compatible serving of each tenant's manifest) and `distillery savings`. */
export function registerGatewayCommands(program: Command): void {
  program
    .command('gateway')
    .description(
      'serve chat completions OpenAI-compatibly from each tenant’s manifest (template / adapter / cheap / frontier), log teacher answers, shadow-check cheaper tiers and demote routes that leave the budget (GATEWAY_* settings: see the README)',
    )
    .action(async () => {
      const config = loadConfig();
      const gc = loadGatewayConfig();
      const database = openDatabase(config.database);
      await database.migrate();
      const blob = openBlobStore(config.blob);
      const embedder = await createEmbedder(config.embeddings);
      // Temporal only for the publish after a demotion: connected on first need, so the gateway serves without it.
      let temporal: Promise<Awaited<ReturnType<typeof connectClient>>> | undefined;
      const temporalClient = () =>
        (temporal ??= connectClient(config.temporal).catch((err: unknown) => {
          temporal = undefined;
          throw err;
        }));
      const gateway = new Gateway({
        db: database.db,
        embedder,
        upstreams: new Upstreams(gc.upstreams),
        manifestSource: (t) => gc.manifestSource.replaceAll('{tenant}', t),
        load: { blobStore: blob, hmacKey: config.manifest.hmacKey },
        refreshMs: gc.refreshMs,
        shadowRate: gc.shadowRate,
        ramp: gc.ramp,
        allowSystem: gc.allowSystem,
        embedCacheSize: gc.embedCacheSize,
        publish: async (tenantId, runId) =>
          (await startPublish(await temporalClient(), config.temporal.taskQueue, { tenantId, mode: 'publish', runId, actor: 'gateway' })).result(),
        log: (level, msg, data) => console[level === 'info' ? 'log' : level](JSON.stringify({ level, msg, ...data })),
      });
      const app = await buildGatewayServer({ gateway, api: config.api, limits: gc.limits, logLevel: config.logLevel });
      const address = await app.listen({ host: gc.host, port: gc.port });
      console.log(`distillery gateway on ${address}/v1 (frontier ${gc.upstreams.frontier.baseURL})`);
      const stop = async () => {
        await app.close();
        await gateway.close();
        if (temporal) await (await temporal.catch(() => undefined))?.close();
        await database.close();
        await embedder.close?.();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });

  program
    .command('savings')
    .description('what the gateway served per route and tier, and the USD avoided against sending everything to the frontier')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--from <time>', 'from (ISO time or date, default 30 days ago)')
    .option('--to <time>', 'until (ISO time or date, default now)')
    .option('--json', 'print JSON')
    .action(async (o: { tenant: string; from?: string; to?: string; json?: boolean }) => {
      const to = o.to ? parseTime('--to', o.to) : new Date();
      const from = o.from ? parseTime('--from', o.from) : new Date(to.getTime() - 30 * 86_400_000);
      if (from >= to) throw new InputError('--from', 'must be before --to');
      const r = await withDb((db) => savingsReport(db, o.tenant, from, to));
      console.log(o.json ? JSON.stringify(r, null, 2) : formatSavings(r));
    });
}

function parseTime(field: string, v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new InputError(field, `not a time: "${v}"; use ISO 8601, e.g. 2026-12-01 or 2026-12-01T12:00:00Z`);
  return d;
}
