import { type Command, Option } from 'commander';
import { withDb } from './common';
import { listActiveTierEntries, routeHistory, setModelTier } from '../tiers/store';

/** `distillery tiers …`: the tier table, route by route. */
export function registerTierCommands(program: Command): void {
  const t = program
    .command('tiers')
    .description('the tier table: which tier serves each route (templates and adapters earn theirs; cheap/frontier are set here)');
  t.command('list')
    .description('the routes that are on a tier other than the default frontier')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withDb(async (db) => {
        const rows = await listActiveTierEntries(db, o.tenant);
        if (!rows.length) return console.log(`no tier entries for ${o.tenant}: every route goes to the frontier`);
        for (const e of rows) {
          const target = e.target;
          const what =
            e.tier === 'template'
              ? `candidate ${String(target.candidateId)} v${String(target.version)}`
              : e.tier === 'adapter'
                ? `adapter ${String(target.name)}`
                : `model ${String(target.model)}`;
          console.log(`${e.routeId.padEnd(16)} ${e.tier.padEnd(8)} ${what}  since ${e.validFrom.toISOString()}`);
        }
      }),
    );
  t.command('set <route>')
    .description('put a route on the cheap model, or back on the frontier (closes its current entry; the next publish carries it)')
    .requiredOption('--tenant <id>', 'tenant')
    .addOption(new Option('--tier <tier>', 'cheap or frontier').choices(['cheap', 'frontier']).makeOptionMandatory())
    .requiredOption('--model <name>', 'the model to call, e.g. gpt-4o-mini')
    .option('--reason <text>', 'why (kept as the entry’s evidence)')
    .action(async (route: string, o: { tenant: string; tier: 'cheap' | 'frontier'; model: string; reason?: string }) =>
      withDb(async (db) => {
        await setModelTier(db, { tenantId: o.tenant, routeId: route, tier: o.tier, model: o.model, actor: process.env.USER ?? 'cli', reason: o.reason });
        console.log(`${route}: ${o.tier} (${o.model}); publish with \`distillery manifest publish --tenant ${o.tenant}\``);
      }),
    );
  t.command('history <route>')
    .description('every entry the route ever had, newest first')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (route: string, o: { tenant: string }) =>
      withDb(async (db) => {
        for (const e of await routeHistory(db, o.tenant, route)) {
          console.log(
            `${e.status.padEnd(10)} ${e.tier.padEnd(8)} ${e.validFrom.toISOString()} .. ${e.validTo?.toISOString() ?? 'now'}  ${JSON.stringify(e.target).slice(0, 100)}` +
              (typeof e.evidence.reason === 'string' ? `\n           reason: ${e.evidence.reason}` : ''),
          );
        }
      }),
    );
}
