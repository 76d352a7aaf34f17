import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusters, runs } from '../../src/db/schema';
import { InputError } from '../../src/errors';
import { ensureTenant } from '../../src/tenants/store';
import { activeTierEntry, listActiveTierEntries, putTierEntry, routeHistory, setModelTier } from '../../src/tiers/store';
import type { Db } from '../../src/db/client';
import { createTestDatabase } from '../support/postgres';

/** The tier table on a real Postgres: one active entry per route, history kept, cheap/frontier set by hand. */
let test: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;
const tenant = 'tiers-it';

beforeAll(async () => {
  test = await createTestDatabase('tiers');
  db = test.database.db;
  await ensureTenant(db, tenant);
  await db.insert(runs).values({ id: 'run-1', kind: 'cluster', tenantId: tenant, workflowId: 'wf', status: 'completed' });
  const centroid = Buffer.alloc(16);
  await db.insert(clusters).values([
    { id: 'c_a', tenantId: tenant, status: 'active', label: 'a', keywords: [], embeddingModel: 'm', centroid, firstRunId: 'run-1', lastRunId: 'run-1' },
    { id: 'c_old', tenantId: tenant, status: 'retired', label: 'old', keywords: [], embeddingModel: 'm', centroid, firstRunId: 'run-1', lastRunId: 'run-1' },
  ]);
});
afterAll(async () => {
  await test?.drop();
});

describe('tier table', () => {
  it('a new entry closes the route’s open one: one active entry, the full history kept in order', async () => {
    await setModelTier(db, { tenantId: tenant, routeId: 'c_a', tier: 'cheap', model: 'gpt-4o-mini', actor: 'ana', reason: 'short factual answers' });
    await db.transaction((tx) =>
      putTierEntry(tx as unknown as Db, {
        tenantId: tenant,
        routeId: 'c_a',
        tier: 'template',
        target: { candidateId: 'g_1', version: 1, template: 'Hi' },
        evidence: {},
      }),
    );
    const active = await activeTierEntry(db, tenant, 'c_a');
    expect(active).toMatchObject({ tier: 'template', status: 'active', validTo: null });
    const history = await routeHistory(db, tenant, 'c_a');
    expect(history.map((e) => [e.tier, e.status])).toEqual([
      ['template', 'active'],
      ['cheap', 'superseded'],
    ]);
    expect(history[1]!.validTo).not.toBeNull();
    expect(history[1]!.evidence).toMatchObject({ setBy: 'ana', reason: 'short factual answers' });
    expect((await listActiveTierEntries(db, tenant)).map((e) => e.routeId)).toEqual(['c_a']);
  });

  it('the database itself refuses two active entries for one route', async () => {
    await expect(
      db
        .insert((await import('../../src/db/schema')).tierEntries)
        .values({ tenantId: tenant, routeId: 'c_a', tier: 'cheap', target: {}, evidence: {}, status: 'active' }),
    ).rejects.toThrow();
  });

  it('refuses unknown and retired routes and an empty model with the field to fix', async () => {
    const err = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e as InputError,
      );
    expect(await err(setModelTier(db, { tenantId: tenant, routeId: 'c_nope', tier: 'cheap', model: 'x', actor: 't' }))).toMatchObject({
      field: 'route',
      kind: 'not_found',
    });
    expect(await err(setModelTier(db, { tenantId: tenant, routeId: 'c_old', tier: 'cheap', model: 'x', actor: 't' }))).toMatchObject({
      field: 'route',
      kind: 'conflict',
    });
    expect(await err(setModelTier(db, { tenantId: tenant, routeId: 'c_a', tier: 'frontier', model: '  ', actor: 't' }))).toMatchObject({
      field: 'model',
      kind: 'invalid',
    });
    expect(await err(setModelTier(db, { tenantId: 'someone-else', routeId: 'c_a', tier: 'cheap', model: 'x', actor: 't' }))).toMatchObject({
      field: 'route',
      kind: 'not_found',
    });
  });
});
