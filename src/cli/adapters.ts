import path from 'node:path';
import { type Command, Option } from 'commander';
import { openBlobStore } from '../blob';
import { loadConfig } from '../config';
import { EXPORT_FORMATS, type ExportFormat, exportAdapters } from '../adapters/export';
import { servableAdapters } from '../adapters/registered';
import { serveRegisteredAdapters, startAdapterServer } from '../adapters/server';
import { InputError } from '../errors';
import { DEFAULT_BASE_MODEL, resolveBaseModel } from '../models/registry';
import { withDb } from './common';

/** Where fetched adapters are cached by digest on this machine. */
const cacheDir = () => path.join(loadConfig().dataDir, 'adapter-cache');

/** `distillery adapter-server` and `distillery adapters export`: serving trained adapters. */
export function registerAdapterServingCommands(program: Command): void {
  program
    .command('adapter-server')
    .description('OpenAI-compatible chat server for the adapters of one base (CPU or CUDA; model = adapter name), adapters fetched by digest')
    .option('--base <name>', 'registered base model (or local folder) the adapters were trained on', DEFAULT_BASE_MODEL)
    .option('--tenant <ids>', "serve these tenants' candidate and active adapters of that base (comma-separated)")
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', Number, 8090)
    .option('--max-queue <n>', 'requests waiting at most (then 429)', Number, 32)
    .option('--max-batch <n>', 'requests for one adapter generated together', Number, 8)
    .option('--timeout-s <s>', 'per request, queue wait included (then 504)', Number, 120)
    .option('--max-new-tokens <n>', 'cap on max_tokens', Number, 256)
    .action(
      async (o: { base: string; tenant?: string; host: string; port: number; maxQueue: number; maxBatch: number; timeoutS: number; maxNewTokens: number }) => {
        const base = resolveBaseModel(o.base);
        const tenants = (o.tenant ?? '')
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
        const adapters = tenants.length ? await withDb(async (db) => (await Promise.all(tenants.map((t) => servableAdapters(db, t, base.name)))).flat()) : [];
        if (tenants.length && !adapters.length)
          console.log(`no candidate or active adapters of ${base.name} for ${tenants.join(', ')}: serving the base alone`);
        const server = await startAdapterServer({
          base: o.base,
          host: o.host,
          port: o.port,
          maxQueue: o.maxQueue,
          maxBatch: o.maxBatch,
          timeoutS: o.timeoutS,
          maxNewTokens: o.maxNewTokens,
        });
        const stop = () => void server.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const loaded = await serveRegisteredAdapters(server, openBlobStore(loadConfig().blob), adapters, cacheDir());
          console.log(`adapter server on ${server.baseURL} (base ${base.name}${base.digest ? ` ${base.digest.slice(0, 19)}…` : ''})`);
          console.log(`models: ${[base.name, ...loaded].join(', ')}  (POST ${server.baseURL}/chat/completions with model = one of them)`);
        } catch (err) {
          await server.close();
          throw err;
        }
        await new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
      },
    );

  // `adapters list/show/activate` (src/cli/distill.ts) made the command: add to it.
  const ad = program.commands.find((c) => c.name() === 'adapters') ?? program.command('adapters').description('trained adapters');
  ad.command('export')
    .description('write adapter folders + the mapping a production engine needs (vLLM --lora-modules, LoRAX adapter ids)')
    .requiredOption('--tenant <id>', 'tenant')
    .addOption(new Option('--format <engine>', 'serving engine').choices(EXPORT_FORMATS).makeOptionMandatory())
    .requiredOption('--output <dir>', 'where to write')
    .option('--base <name>', 'only adapters of this base (required when the tenant has several)')
    .action(async (o: { tenant: string; format: ExportFormat; output: string; base?: string }) => {
      const adapters = await withDb((db) => servableAdapters(db, o.tenant, o.base));
      if (!adapters.length) throw new InputError('--tenant', `no candidate or active adapters with files for ${o.tenant}${o.base ? ` on ${o.base}` : ''}`);
      const r = await exportAdapters(openBlobStore(loadConfig().blob), adapters, o.format, path.resolve(o.output), cacheDir());
      for (const [name, dir] of Object.entries(r.dirs)) console.log(`${name}  ${dir}`);
      for (const f of r.files) console.log(`wrote ${f}`);
    });
}
