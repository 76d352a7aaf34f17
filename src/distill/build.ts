import type { BlobStore } from '../blob';
import { runSnapshots } from '../clustering/store';
import type { Db } from '../db/client';
import { InputError } from '../errors';
import { getRun } from '../runs/store';
import { servedRoutes } from '../tiers/store';
import { type DatasetFiles, type DatasetFilesInput, buildDatasetFiles } from './thread';
import { loadDatasetRows, saveDataset } from './store';
import type { DatasetCard, DatasetOptions } from './types';

export interface BuildDatasetInput {
  tenantId: string;
  clusterRunId: string;
  /** The category; default: every cluster of the run that no active template serves. */
  clusterIds?: string[];
  options?: Partial<DatasetOptions>;
}

export interface BuiltDataset {
  datasetId: string;
  trainKey: string;
  evalKey: string;
  counts: DatasetCard['counts'];
}

/**
 * Builds a category's dataset (filters, PII scrub, caps, stratified split) and stores it content-addressed:
 * datasets/<id>/{train,eval}.jsonl and card.json in the blob store, a `datasets` row in Postgres. Building the same
 * data again finds the same id and writes the same bytes. `build` runs the CPU-bound step: in this thread by default,
 * in a worker thread from the activity (so its event loop keeps heartbeating).
 */
export async function buildAndStoreDataset(
  db: Db,
  blob: BlobStore,
  input: BuildDatasetInput,
  build: (input: DatasetFilesInput) => Promise<DatasetFiles> = async (i) => buildDatasetFiles(i),
): Promise<BuiltDataset> {
  const run = await getRun(db, input.clusterRunId);
  if (!run || run.kind !== 'cluster' || run.tenantId !== input.tenantId)
    throw new InputError('clusterRunId', `no clustering run "${input.clusterRunId}" for tenant ${input.tenantId}: see \`distillery runs --kind cluster\``);
  const clusterIds = input.clusterIds?.length ? input.clusterIds : await untemplated(db, input.tenantId, input.clusterRunId);
  if (!clusterIds.length) throw new InputError('clusterIds', 'no clusters to distil: every cluster of the run is already served by a template');
  const rows = await loadDatasetRows(db, input.clusterRunId, clusterIds);
  const built = await build({
    rows,
    options: { seed: 'distillery', ...input.options },
    provenance: { tenantId: input.tenantId, clusterRunId: input.clusterRunId, clusterIds },
  });
  if (built.trainCount === 0 || built.evalCount === 0) {
    throw new InputError(
      'clusterIds',
      `the dataset would have ${built.trainCount} train / ${built.evalCount} eval examples: pick clusters with more accepted interactions`,
    );
  }
  const { id, trainJsonl, evalJsonl } = built;
  const files = { train: `datasets/${id}/train.jsonl`, eval: `datasets/${id}/eval.jsonl` };
  const card: DatasetCard = { ...built.card, id, files: { train: blob.uri(files.train), eval: blob.uri(files.eval) } };
  await blob.put(files.train, trainJsonl, { contentType: 'application/x-ndjson' });
  await blob.put(files.eval, evalJsonl, { contentType: 'application/x-ndjson' });
  await blob.put(`datasets/${id}/card.json`, JSON.stringify(card, null, 2), { contentType: 'application/json' });
  await saveDataset(db, { id, tenantId: input.tenantId, clusterRunId: input.clusterRunId, clusterIds, card, trainKey: files.train, evalKey: files.eval });
  return { datasetId: id, trainKey: files.train, evalKey: files.eval, counts: card.counts };
}

/** Clusters of a run that no active template serves: the categories distillation is for. */
async function untemplated(db: Db, tenantId: string, clusterRunId: string): Promise<string[]> {
  const ids = (await runSnapshots(db, clusterRunId)).map((r) => r.clusterId);
  const served = await servedRoutes(db, tenantId, ids, 'template');
  return ids.filter((id) => !served.has(id));
}
