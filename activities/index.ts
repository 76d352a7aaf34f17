import { createCheapActivities, type CheapDeps } from './cheap';
import { createClusterActivities, type ClusterDeps } from './cluster';
import { createDistillActivities, type DistillDeps } from './distill';
import { createGraduationActivities, type GraduationDeps } from './graduation';
import { createIngestActivities, type IngestDeps } from './ingest';
import { createPublishActivities, type PublishDeps } from './publish';
import { createRetrainActivities } from './retrain';
import { createRunActivities } from './runs';

export type ActivityDeps = IngestDeps & ClusterDeps & GraduationDeps & DistillDeps & PublishDeps & CheapDeps;

/** Every CPU activity of the `distillery` task queue, built over the dependencies the worker owns. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createIngestActivities(deps),
    ...createClusterActivities(deps),
    ...createGraduationActivities(deps),
    ...createDistillActivities(deps),
    ...createRetrainActivities(deps),
    ...createPublishActivities(deps),
    ...createCheapActivities(deps),
    ...createRunActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
