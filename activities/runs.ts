import type { Db } from '../src/db/client';
import { failRun } from '../src/runs/store';
import type { FailRunInput } from '../src/temporal/contract';

export interface RunDeps {
  db: Db;
}

/** The run record's failure path, shared by the ingest, cluster and retrain workflows (see failRun in the store). */
export function createRunActivities({ db }: RunDeps) {
  return {
    async failRun(input: FailRunInput): Promise<void> {
      await failRun(db, input);
    },
  };
}
