#!/usr/bin/env -S npx tsx
import { Command, Option } from 'commander';
import { loadConfig } from '../src/config';
import { cliMessage } from '../src/cli/errors';
import { registerClusterCommands } from '../src/cli/clusters';
import { registerDistillCommands } from '../src/cli/distill';
import { registerGraduationCommands } from '../src/cli/graduation';
import { registerManifestCommands } from '../src/cli/manifest';
import { registerRetrainCommands } from '../src/cli/retrain';
import { registerRouteCommands } from '../src/cli/route';
import { registerIngestCommands } from '../src/cli/ingest';
import { registerServiceCommands } from './services';
import { registerTenantCommands } from '../src/cli/tenants';
import { registerTierCommands } from '../src/cli/tiers';
import { registerGatewayCommands } from '../src/cli/gateway';
import { registerModelsCommands } from '../src/cli/models';
import { registerAdapterServingCommands } from '../src/cli/adapters';
import { runDemo } from './demo';
import { runStudentDemo } from './demo-student';

/**
 * `distillery …`: every capability is reachable from here. Errors a user can fix print one clear line (exit 2);
 * anything else prints the error and exits 1.
 */
const program = new Command('distillery')
  .description('Turns repeated expensive-LLM traffic into cheaper serving tiers (templates, LoRA adapters), on Temporal.')
  .showHelpAfterError();

registerServiceCommands(program);
registerTenantCommands(program);
registerIngestCommands(program);
registerClusterCommands(program);
registerGraduationCommands(program);
registerDistillCommands(program);
registerRetrainCommands(program);
registerManifestCommands(program);
registerTierCommands(program);
registerRouteCommands(program);
registerGatewayCommands(program);
registerModelsCommands(program);
registerAdapterServingCommands(program);

program
  .command('demo')
  .description(
    'the main job on embedded defaults: start the local stack, ingest a shared data set, run one retrain (cluster, graduate, distil with a tiny CPU model, publish), review the candidates, publish, route a few queries',
  )
  .addOption(new Option('--dataset <name>', 'shared data set to ingest').choices(['bitext-v1', 'bitext-v2', 'banking77', 'hwu64']).default('bitext-v1'))
  .option('--limit <n>', 'at most this many records', (v) => Number(v))
  .option('--student', 'instead: a real student (SmolLM2-135M-Instruct + LoRA, trained on the CPU) serving through the adapter server')
  .action(async (opts: { dataset: 'bitext-v1'; limit?: number; student?: boolean }) => (opts.student ? runStudentDemo() : runDemo(loadConfig(), opts)));

program.parseAsync(process.argv).catch((err: unknown) => {
  const message = cliMessage(err);
  if (message !== undefined) {
    console.error(`distillery: ${message}`);
    process.exit(2);
  }
  console.error(`distillery: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
