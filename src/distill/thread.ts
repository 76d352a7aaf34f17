import type { ThreadTask } from '../threads/run';
import { type DatasetBuildOptions, type DatasetCardDraft, type DatasetProvenance, buildDataset, datasetId, toJsonl } from './dataset';
import type { DatasetSourceRow } from './types';

export interface DatasetFilesInput {
  rows: DatasetSourceRow[];
  options: Partial<DatasetBuildOptions> & { seed: string };
  provenance: DatasetProvenance;
}

/** A built dataset as it is stored: its JSONL files, their content address, and the card (without id and files). */
export interface DatasetFiles {
  id: string;
  trainJsonl: string;
  evalJsonl: string;
  trainCount: number;
  evalCount: number;
  card: DatasetCardDraft;
}

/**
 * The CPU-bound part of building a dataset (filters, PII scrub, near-duplicate checks, split, serialisation,
 * hashing) as one pure step of plain data, so the activity can run it in a worker thread (src/threads/run.ts).
 */
export function buildDatasetFiles(input: DatasetFilesInput): DatasetFiles {
  const built = buildDataset(input.rows, input.options, input.provenance);
  const trainJsonl = toJsonl(built.train);
  const evalJsonl = toJsonl(built.eval);
  // Content address; the lines carry interaction ids, which are unique across tenants, so ids never collide.
  return { id: datasetId(trainJsonl, evalJsonl), trainJsonl, evalJsonl, trainCount: built.train.length, evalCount: built.eval.length, card: built.card };
}

export const buildDatasetFilesTask: ThreadTask<DatasetFilesInput, DatasetFiles> = async (input) => ({ result: buildDatasetFiles(input) });
