import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

export const WORKFLOWS_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../workflows/index.ts');

const SDK_LEVELS = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' } as const;

/**
 * Sets the Temporal SDK's log level from LOG_LEVEL. The runtime is process-wide and can be installed once, before
 * the first worker; later calls are no-ops.
 */
export function installWorkerRuntime(level: keyof typeof SDK_LEVELS): void {
  try {
    Runtime.install({ logger: new DefaultLogger(SDK_LEVELS[level]) });
  } catch {
    // already installed (a second worker in this process, or a test harness)
  }
}

export interface WorkerHandle {
  worker: Worker;
  connection: NativeConnection;
  /** Resolves when the worker has drained and stopped (after shutdown(), or a SIGINT/SIGTERM handled by the SDK). */
  run(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Creates a worker on one task queue. Workflows are bundled from `workflows/` unless a prebuilt bundle is given
 * (tests bundle once). The SDK's runtime shuts workers down gracefully on SIGINT/SIGTERM: in-flight activities get
 * the grace period to finish or heartbeat-fail, and the process exits when `run()` resolves.
 */
export async function createWorker(opts: {
  temporal: Config['temporal'];
  taskQueue: string;
  activities: object;
  workflows?: boolean;
  workflowBundlePath?: string;
  maxConcurrentActivityTaskExecutions?: number;
  /** Longest wait before a heartbeat goes to the server (and a cancel request comes back): the SDK's default is 60 s. */
  maxHeartbeatThrottleInterval?: WorkerOptions['maxHeartbeatThrottleInterval'];
}): Promise<WorkerHandle> {
  const connection = await NativeConnection.connect({ address: opts.temporal.address });
  const workerOptions: WorkerOptions = {
    connection,
    namespace: opts.temporal.namespace,
    taskQueue: opts.taskQueue,
    activities: opts.activities,
    shutdownGraceTime: '20 seconds',
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 4,
    ...(opts.maxHeartbeatThrottleInterval !== undefined ? { maxHeartbeatThrottleInterval: opts.maxHeartbeatThrottleInterval } : {}),
  };
  if (opts.workflows !== false) {
    if (opts.workflowBundlePath) workerOptions.workflowBundle = { codePath: opts.workflowBundlePath };
    else workerOptions.workflowsPath = WORKFLOWS_PATH;
  }
  const worker = await Worker.create(workerOptions);
  let running: Promise<void> | undefined;
  return {
    worker,
    connection,
    run: () => (running ??= worker.run().finally(() => connection.close())),
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}
