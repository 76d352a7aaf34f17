import type { Command } from 'commander';
import { InputError } from '../errors';
import { pointerKey } from '../manifest/publish';
import { getManifest, listManifests, listPrices, recentEvents, servedVersion, setPrice } from '../manifest/store';
import type { ReplayReport } from '../manifest/replay';
import { TIERS, type TierName } from '../serving/manifest';
import type { PublishInput } from '../temporal/contract';
import { startPublish } from '../temporal/starters';
import { pct, withClient, withDb } from './common';

/** Runs the tenant's single publisher workflow (`publish:<tenant>`) and waits for it. */
async function runPublisher(input: PublishInput) {
  return withClient(async (client, config) => (await startPublish(client, config.temporal.taskQueue, input)).result());
}

export function formatReplay(r: ReplayReport): string {
  const tiers = (Object.entries(r.perTier) as Array<[string, { calls: number; share: number; cost: number }]>)
    .map(([t, x]) => `${t} ${pct(x.share)} ($${x.cost.toFixed(4)})`)
    .join(', ');
  return `replay of ${r.rows} held-out interactions: ${tiers}; cost $${r.projectedCost.toFixed(4)} vs all-frontier $${r.allFrontierCost.toFixed(4)} (−${pct(r.reduction)}); quality ${r.quality.overall.toFixed(3)} (templates ${r.quality.template.agreed}/${r.quality.template.served} agree)`;
}

export function registerManifestCommands(program: Command): void {
  const m = program.command('manifest').description('the versioned tier manifest routers read: publish, list, show, rollback');
  m.command('publish')
    .description('publish the tier table now (replayed first; refused below policy)')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) => {
      const r = await runPublisher({ tenantId: o.tenant, mode: 'publish', runId: `manual:${new Date().toISOString()}`, actor: process.env.USER ?? 'cli' });
      console.log(`${r.status}${r.version ? ` v${r.version}` : ''}${r.reasons.length ? `: ${r.reasons.join('; ')}` : ''}`);
      if (r.replay) console.log(formatReplay(r.replay));
    });
  m.command('rollback')
    .description('serve an earlier version again (switches the pointer; the next publish builds on the tier table as usual)')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--to <version>', 'version to serve', Number)
    .action(async (o: { tenant: string; to: number }) => {
      if (!Number.isInteger(o.to) || o.to < 1) throw new InputError('--to', 'a version number such as 1');
      const r = await runPublisher({ tenantId: o.tenant, mode: 'rollback', toVersion: o.to, actor: process.env.USER ?? 'cli' });
      console.log(`${o.tenant} now serves v${r.version}`);
    });
  m.command('list')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withDb(async (db) => {
        const served = await servedVersion(db, o.tenant);
        console.log(`pointer: ${pointerKey(o.tenant)} → v${served ?? '-'}`);
        for (const r of await listManifests(db, o.tenant)) {
          console.log(
            `${r.version === served ? '*' : ' '} v${r.version}  ${r.status}  ${r.manifest.routes.length} routes  ${r.contentHash.slice(0, 19)}  run ${r.runId}  ${r.createdAt.toISOString()}`,
          );
        }
        for (const e of await recentEvents(db, o.tenant, 10))
          console.log(`  ${e.at.toISOString()} ${e.kind} v${e.version}${e.fromVersion ? ` (from v${e.fromVersion})` : ''} by ${e.actor}`);
      }),
    );
  m.command('show')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--version <n>', 'default: the served one', Number)
    .option('--json', 'the manifest itself')
    .action(async (o: { tenant: string; version?: number; json?: boolean }) =>
      withDb(async (db) => {
        const v = o.version ?? (await servedVersion(db, o.tenant));
        const r = v ? await getManifest(db, o.tenant, v) : undefined;
        if (!r)
          throw new InputError(
            '--version',
            `no manifest ${v ? `v${v} ` : ''}for ${o.tenant}: publish one with \`distillery retrain\` or \`distillery manifest publish\``,
          );
        if (o.json) return console.log(JSON.stringify(r.manifest, null, 2));
        console.log(`v${r.version} (${r.status}) ${r.key}\n${formatReplay(r.replay)}`);
        for (const x of r.manifest.routes) console.log(`  ${x.id}  ${x.tier.padEnd(8)} ${pct(x.share).padStart(6)}  ${x.label}`);
      }),
    );

  const p = program.command('prices').description('prices per tier used by savings replays (USD per million tokens)');
  p.command('list').action(async () =>
    withDb(async (db) => {
      for (const r of await listPrices(db))
        console.log(`${r.tier.padEnd(8)} ${r.model.padEnd(14)} in $${r.inputPerMTok}/M  out $${r.outputPerMTok}/M  per call $${r.perCall}`);
    }),
  );
  p.command('set <tier>')
    .requiredOption('--model <name>', 'model name')
    .requiredOption('--input <usd>', 'USD per million input tokens', Number)
    .requiredOption('--output <usd>', 'USD per million output tokens', Number)
    .option('--per-call <usd>', 'fixed USD per call', Number, 0)
    .action(async (tier: string, o: { model: string; input: number; output: number; perCall: number }) => {
      if (!TIERS.includes(tier as TierName)) throw new InputError('tier', `one of ${TIERS.join(', ')}`);
      for (const [f, v] of [
        ['--input', o.input],
        ['--output', o.output],
        ['--per-call', o.perCall],
      ] as const)
        if (!Number.isFinite(v) || v < 0) throw new InputError(f, 'a non-negative number of USD');
      await withDb((db) => setPrice(db, { tier: tier as TierName, model: o.model, inputPerMTok: o.input, outputPerMTok: o.output, perCall: o.perCall }));
      console.log(`${tier}: ${o.model} $${o.input}/M in, $${o.output}/M out, $${o.perCall}/call`);
    });
}
