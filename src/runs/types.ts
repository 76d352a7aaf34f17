import type { ClusterEventKind, RunKind } from '../vocabulary';

/**
 * What a row of the `runs` table holds (its store is src/runs/store.ts; a module of types only, so the schema can name
 * them without importing the store). Every pipeline run (ingest, cluster, retrain) is one row with the same life:
 * startRun (running) → finishRun (completed, with its figures) or failRun (failed, with the reason). What `params`
 * and `stats` hold depends on the kind, and is typed per kind below, so a reader of a run knows its shape.
 */

export interface IngestRunStats {
  files: number;
  lines: number;
  stored: number;
  duplicates: number;
  rejected: number;
  /** The rejected-lines report in the blob store, or null when every line was stored. */
  reportUri: string | null;
}

export interface ClusterRunStats {
  interactions: number;
  distinct: number;
  clusters: number;
  clusteredShare: number;
  events: Record<ClusterEventKind, number>;
}

/** One retrain stage's wall time (seconds, one decimal) and whatever figures the stage reported. */
export type RetrainStage = { seconds: number } & Record<string, unknown>;

export interface RunShapes {
  ingest: { params: { source: string; files: number }; stats: IngestRunStats };
  cluster: { params: { from?: string; to?: string; acceptedOnly: boolean }; stats: ClusterRunStats };
  /** A retrain's stats grow stage by stage (recordRunStage) while it runs; finishing adds nothing. */
  retrain: { params: Record<string, never>; stats: { stages: Record<string, RetrainStage> } };
}
export type RunParams = RunShapes[RunKind]['params'];
export type RunStats = RunShapes[RunKind]['stats'] | Record<string, never>;
