// The workflow bundle's entry: every workflow the `distillery` task queue runs.
export { ingestWorkflow, ingestProgressQuery } from './ingest';
export { clusterWorkflow } from './cluster';
export { graduateWorkflow } from './graduate';
export { reviewWorkflow, decideUpdate, reviewStateQuery } from './review';
export { fineTuneWorkflow } from './finetune';
export { publishWorkflow } from './publish';
export { retrainWorkflow } from './retrain';
