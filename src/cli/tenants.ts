import type { Command } from 'commander';
import { loadConfig } from '../config';
import { type Db, openDatabase } from '../db/client';
import { type Scope, SCOPES, describeScope, parseScopes } from '../keys/scopes';
import { type KeyInfo, createApiKey, listApiKeys, revokeApiKey } from '../keys/store';
import { ensureTenant, setTenantBudget, tenantBudget } from '../tenants/store';
import { trialSampleSize } from '../promotion/cheap';

/** Opens and migrates the configured database for one command (these commands are the first a deployment runs). */
async function withMigratedDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const database = openDatabase(loadConfig().database);
  try {
    await database.migrate();
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

const scopesHelp = `comma-separated, of: ${SCOPES.map((s) => `${s} (${describeScope(s)})`).join('; ')}`;

function printNewKey(tenant: string, name: string, scopes: readonly Scope[], key: string): void {
  console.log(`api key "${name}" for tenant ${tenant}, scopes ${scopes.join(',')} (shown once; store it now):\n${key}`);
}

export function formatKeyRow(k: KeyInfo): string {
  return [
    String(k.id).padEnd(6),
    k.prefix.padEnd(10),
    k.name.padEnd(24),
    k.scopes.join(',').padEnd(20),
    k.createdAt.toISOString(),
    k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'live',
  ].join('  ');
}

export function registerTenantCommands(program: Command): void {
  const tenant = program.command('tenant').description('tenants and their first API key');
  tenant
    .command('create <id>')
    .description('create a tenant (idempotent) and print a new API key for it (default scope: ingest, what the SDK needs)')
    .option('--name <name>', 'display name')
    .option('--key-name <name>', "name of the key (unique among the tenant's live keys)", 'sdk')
    .option('--scopes <list>', scopesHelp, 'ingest')
    .action(async (id: string, opts: { name?: string; keyName: string; scopes: string }) => {
      const scopes = parseScopes(opts.scopes, '--scopes');
      await withMigratedDb(async (db) => {
        const t = await ensureTenant(db, id, opts.name);
        const key = await createApiKey(db, t.id, { name: opts.keyName, scopes });
        console.log(`tenant ${t.id}`);
        printNewKey(t.id, opts.keyName, scopes, key);
        if (!scopes.includes('review') && !scopes.includes('admin')) {
          console.log(`reviewers need their own key: distillery keys create --tenant ${t.id} --name <reviewer> --scopes review`);
        }
      });
    });
  tenant
    .command('budget <id>')
    .description("show or set the tenant's one error budget: the most served answers may be wrong (an upper bound), for every promotion")
    .option('--max-error <rate>', 'e.g. 0.01 for at most 1% wrong (the default)', Number)
    .option('--confidence <level>', 'confidence of the bound, e.g. 0.95 (the default)', Number)
    .action(async (id: string, opts: { maxError?: number; confidence?: number }) => {
      await withMigratedDb(async (db) => {
        const b =
          opts.maxError === undefined && opts.confidence === undefined
            ? await tenantBudget(db, id)
            : await setTenantBudget(db, id, opts.maxError ?? (await tenantBudget(db, id)).maxErrorRate, opts.confidence);
        console.log(
          `tenant ${id}: served answers wrong <= ${(100 * b.maxErrorRate).toFixed(2)}% at ${(100 * b.confidence).toFixed(0)}% confidence (${b.method}); ` +
            `certifying it needs at least ${trialSampleSize(b)} clean held-out answers`,
        );
      });
    });

  const keys = program.command('keys').description("issue, list and revoke a tenant's API keys (scopes: " + SCOPES.join(', ') + ')');
  keys
    .command('create')
    .description('issue a key and print it once; its name is the reviewer its review decisions record')
    .requiredOption('--tenant <id>', 'tenant')
    .requiredOption('--name <name>', 'who or what holds the key, e.g. ada@example.com or checkout-api')
    .requiredOption('--scopes <list>', scopesHelp)
    .action(async (o: { tenant: string; name: string; scopes: string }) => {
      const scopes = parseScopes(o.scopes, '--scopes');
      await withMigratedDb(async (db) => {
        const t = await ensureTenant(db, o.tenant);
        printNewKey(t.id, o.name.trim(), scopes, await createApiKey(db, t.id, { name: o.name, scopes }));
      });
    });
  keys
    .command('list')
    .description("a tenant's keys: id, prefix, name, scopes, created, revoked")
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (o: { tenant: string }) =>
      withMigratedDb(async (db) => {
        const all = await listApiKeys(db, o.tenant);
        if (all.length === 0) {
          console.log(`tenant ${o.tenant} has no keys`);
          return;
        }
        console.log(['id'.padEnd(6), 'prefix'.padEnd(10), 'name'.padEnd(24), 'scopes'.padEnd(20), 'created'.padEnd(24), 'state'].join('  '));
        for (const k of all) console.log(formatKeyRow(k));
      }),
    );
  keys
    .command('revoke <prefixOrId>')
    .description('revoke a key (the API refuses it with 401 within a minute: its cache)')
    .requiredOption('--tenant <id>', 'tenant')
    .action(async (ref: string, o: { tenant: string }) =>
      withMigratedDb(async (db) => {
        const k = await revokeApiKey(db, o.tenant, ref);
        console.log(`revoked key ${k.id} (${k.prefix}, "${k.name}") of tenant ${o.tenant} at ${k.revokedAt!.toISOString()}`);
      }),
    );
}
