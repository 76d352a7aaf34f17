import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client';
import { rowsOf } from '../../src/db/client';
import { acceptedInteractionSql, acceptedSql, isAccepted } from '../../src/interactions/store';
import type { FeedbackKind } from '../../src/vocabulary';

// The acceptance rule exists as SQL (for queries) and as a TS predicate (for rows already loaded): both must say the
// same for every latest-feedback shape, or clustering, graduation, datasets and replay would disagree on "accepted".
const CASES: Array<[FeedbackKind | null, number | null, boolean]> = [
  [null, null, false], // no feedback at all
  ['accepted', null, true],
  ['accepted', 0.1, true], // the kind decides, a stray score does not
  ['edited', null, true],
  ['rejected', null, false],
  ['rejected', 0.9, false],
  ['score', 0, false],
  ['score', 0.49, false],
  ['score', 0.5, true], // the boundary is inclusive
  ['score', 0.75, true],
  ['score', 1, true],
  ['score', null, false], // a score row without a score accepts nothing
];

let pg: PGlite;
let db: Db;

// In-process Postgres (PGlite, WASM): no server needed, but booting it takes seconds on a busy machine.
beforeAll(async () => {
  pg = new PGlite();
  db = drizzle(pg) as unknown as Db;
  await db.execute(
    sql`create table feedback (id bigint primary key, interaction_id bigint not null, kind text not null, score real, corrected_answer text, created_at timestamptz not null)`,
  );
}, 60_000);
afterAll(async () => {
  await pg?.close();
});

describe('the acceptance rule', () => {
  it.each(CASES)('latest %s (score %s) → accepted %s in TS and in SQL', async (kind, score, expected) => {
    expect(isAccepted(kind === null ? null : { kind, score })).toBe(expected);
    const [row] = rowsOf<{ ok: boolean }>(
      await db.execute(sql`select ${acceptedSql('f')} as ok from (select ${kind}::text as kind, ${score}::real as score) f`),
    );
    expect(row!.ok).toBe(expected);
  });

  it('decides on the latest feedback row of an interaction (newest, ties by id), in SQL as in TS', async () => {
    // 1: accepted then rejected → not accepted; 2: rejected then score 0.8 → accepted; 3: same timestamp, the higher
    // id wins (accepted); 4: no feedback.
    await db.execute(sql`insert into feedback values
      (1, 1, 'accepted', null, null, '2026-01-01'), (2, 1, 'rejected', null, null, '2026-01-02'),
      (3, 2, 'rejected', null, null, '2026-01-01'), (4, 2, 'score', 0.8, null, '2026-01-03'),
      (5, 3, 'rejected', null, null, '2026-01-05'), (6, 3, 'accepted', null, null, '2026-01-05')`);
    const rows = rowsOf<{ i: number; ok: boolean }>(
      await db.execute(sql`select i, ${acceptedInteractionSql(sql`i`)} as ok from (values (1), (2), (3), (4)) as x(i) order by i`),
    );
    expect(rows.map((r) => [Number(r.i), r.ok])).toEqual([
      [1, false],
      [2, true],
      [3, true],
      [4, false],
    ]);
    const latest = { 1: { kind: 'rejected', score: null }, 2: { kind: 'score', score: 0.8 }, 3: { kind: 'accepted', score: null }, 4: null } as const;
    expect(rows.map((r) => isAccepted(latest[Number(r.i) as 1 | 2 | 3 | 4]))).toEqual(rows.map((r) => r.ok));
  });
});
