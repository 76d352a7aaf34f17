import { type Config, loadConfig } from '../config';
import { connectClient } from '../temporal/client';
import { type Db, EmbeddedDatabaseBusyError, openDatabase } from '../db/client';
import { SHARED_DATASETS, type SharedDatasetName } from '../datasets/shared';
import { createEmbedder } from '../embeddings';
import { embedWithCache } from '../embeddings/cache';
import { InputError } from '../errors';
import { latestCompletedRun } from '../runs/store';

export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export type TemporalClient = Awaited<ReturnType<typeof connectClient>>;

/** Connects to the configured Temporal for one command and closes the connection after, whatever happens. */
export async function withClient<T>(fn: (client: TemporalClient, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const client = await connectClient(config.temporal);
  try {
    return await fn(client, config);
  } finally {
    await client.close();
  }
}

/** Opens the configured database for one command and closes it after, whatever happens. */
export async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const database = openDatabase(loadConfig().database);
  try {
    return await fn(database.db);
  } finally {
    await database.close();
  }
}

/**
 * The clustering run a command is about: the one named (no database needed, so it works while \`distillery dev\`
 * holds the embedded database), else the tenant's latest completed one.
 */
export async function resolveRun(tenant: string | undefined, run: string | undefined): Promise<string> {
  if (run) return run;
  try {
    return await withDb((db) => runOf(db, tenant, undefined));
  } catch (err) {
    if (err instanceof EmbeddedDatabaseBusyError) {
      throw new InputError(
        '--run',
        'the embedded database is held by a running `distillery dev`: name the clustering run with --run (`clusters run` prints it), or set DATABASE_URL so processes share one Postgres',
      );
    }
    throw err;
  }
}

/** The latest completed clustering run of a tenant, or the one named. */
export async function runOf(db: Db, tenant: string | undefined, run: string | undefined): Promise<string> {
  if (run) return run;
  if (!tenant) throw new InputError('--tenant', 'name the tenant (or a run with --run)');
  const id = await latestCompletedRun(db, 'cluster', tenant);
  if (!id) throw new InputError('--tenant', `no completed clustering for tenant "${tenant}" yet: run \`distillery clusters run --tenant ${tenant}\``);
  return id;
}

/**
 * Runs an evaluation over shared data sets with a cached embedder: checks the names, opens the database (the
 * embedding cache makes repeated evaluations cheap; PGlite or DATABASE_URL) and closes everything after.
 */
export async function forEachDataset(
  names: string[],
  fn: (dataset: SharedDatasetName, embed: (texts: string[]) => Promise<Float32Array[]>) => Promise<void>,
): Promise<void> {
  for (const d of names)
    if (!SHARED_DATASETS.includes(d as SharedDatasetName))
      throw new InputError('--dataset', `unknown data set "${d}"; choose from ${SHARED_DATASETS.join(', ')}`);
  const config = loadConfig();
  const embedder = await createEmbedder(config.embeddings);
  const database = openDatabase(config.database);
  try {
    await database.migrate();
    for (const d of names) await fn(d as SharedDatasetName, (texts) => embedWithCache(database.db, embedder, texts));
  } finally {
    await database.close();
  }
}
