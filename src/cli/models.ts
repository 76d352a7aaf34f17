import type { Command } from 'commander';
import { DEFAULT_BASE_MODEL, addBaseModel, listBaseModels, modelsDir } from '../models/registry';

/** `distillery models …`: the named, digested base models under the models directory. */
export function registerModelsCommands(program: Command): void {
  // `models tiny` (src/cli/distill.ts) may have made the command already: add to it.
  const m =
    program.commands.find((c) => c.name() === 'models') ??
    program.command('models').description('base models: named, digested save_pretrained folders that jobs and adapters pin');
  m.command('add [name]')
    .description(`build a packaged base model into the models directory and register it (default ${DEFAULT_BASE_MODEL}); idempotent`)
    .option('--models-dir <dir>', 'models directory (default DISTILLERY_MODELS_DIR or models/)')
    .action(async (name: string | undefined, o: { modelsDir?: string }) => {
      const e = await addBaseModel(name ?? DEFAULT_BASE_MODEL, o.modelsDir ?? modelsDir());
      console.log(`${e.name}  ${e.digest}\nsource ${e.source}\nfolder ${e.path} (in ${o.modelsDir ?? modelsDir()})`);
    });
  m.command('list')
    .description('the registered base models')
    .option('--models-dir <dir>', 'models directory (default DISTILLERY_MODELS_DIR or models/)')
    .option('--json', 'print JSON')
    .action((o: { modelsDir?: string; json?: boolean }) => {
      const rows = listBaseModels(o.modelsDir ?? modelsDir());
      if (o.json) return console.log(JSON.stringify(rows, null, 2));
      if (!rows.length) return console.log(`no base models registered; run \`distillery models add ${DEFAULT_BASE_MODEL}\``);
      for (const e of rows) console.log(`${e.name.padEnd(24)} ${e.digest.slice(0, 23)}…  ${e.source}`);
    });
}
