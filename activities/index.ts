import { createIngestActivities, type IngestDeps } from './ingest';

export type ActivityDeps = IngestDeps;

/** Every CPU activity of the `distillery` task queue, built over the dependencies the worker owns. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createIngestActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
