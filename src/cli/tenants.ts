import type { Command } from 'commander';
import { loadConfig } from '../config';
import { openDatabase } from '../db/client';
import { createApiKey, ensureTenant } from '../tenants/store';

export function registerTenantCommands(program: Command): void {
  const tenant = program.command('tenant').description('tenants and their API keys');
  tenant
    .command('create <id>')
    .description('create a tenant (idempotent) and print a new API key for it')
    .option('--name <name>', 'display name')
    .action(async (id: string, opts: { name?: string }) => {
      const database = openDatabase(loadConfig().database);
      try {
        await database.migrate();
        const t = await ensureTenant(database.db, id, opts.name);
        const key = await createApiKey(database.db, t.id);
        console.log(`tenant ${t.id}\napi key (shown once): ${key}`);
      } finally {
        await database.close();
      }
    });
}
