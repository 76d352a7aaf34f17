// Entry of every worker thread started by run.ts. Plain JavaScript on purpose: a worker thread does not inherit the
// parent's TypeScript loader (tsx), so it registers one before loading the TypeScript module that holds the work.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { moduleUrl, exportName, args } = workerData;
const progress = (details) => parentPort.postMessage({ type: 'progress', details });
try {
  const mod = await import(moduleUrl);
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new Error(`${moduleUrl} has no exported function ${exportName}`);
  const { result, transfer } = await fn(args, progress);
  parentPort.postMessage({ type: 'result', result }, transfer ?? []);
} catch (err) {
  parentPort.postMessage({ type: 'error', name: err?.name ?? 'Error', message: err?.message ?? String(err), stack: err?.stack });
}
