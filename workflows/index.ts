// The workflow bundle's entry: every workflow the `distillery` task queue runs. Their inputs, outputs, ids and
// messages are in src/temporal/contract.ts; nothing outside workflows/ imports these modules (only the worker bundles
// this file).
export { ingestWorkflow } from './ingest';
export { clusterWorkflow } from './cluster';
export { graduateWorkflow } from './graduate';
export { reviewWorkflow } from './review';
export { reviewPublishWorkflow } from './review-publish';
export { fineTuneWorkflow } from './finetune';
export { publishWorkflow } from './publish';
export { retrainWorkflow } from './retrain';
