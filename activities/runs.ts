import { ne, sql } from 'drizzle-orm';
import type { Db } from '../src/db/client';
import { runs } from '../src/db/schema';
import type { FailRunInput } from '../src/temporal/contract';

export interface RunDeps {
  db: Db;
}

/** The run record's failure path, shared by the ingest, cluster and retrain workflows. */
export function createRunActivities({ db }: RunDeps) {
  return {
    /**
     * Marks a run failed with its reason. Upserts: a workflow that fails before its first activity wrote the record
     * (an unknown tenant, a bad source) still leaves one. A completed run is never turned into a failed one.
     */
    async failRun(input: FailRunInput): Promise<void> {
      await db
        .insert(runs)
        .values({ id: input.runId, kind: input.kind, tenantId: input.tenantId, workflowId: input.workflowId, status: 'failed', error: input.error, finishedAt: sql`now()` })
        .onConflictDoUpdate({ target: runs.id, set: { status: 'failed', error: input.error, finishedAt: sql`now()` }, setWhere: ne(runs.status, 'completed') });
    },
  };
}
