import { tenantJudges } from '../src/judge/tenant';
import type { Client } from '@temporalio/client';
import { connectClient } from '../src/temporal/client';
import { createActivities } from '../activities';
import { GPU_HEARTBEAT_THROTTLE, createGpuActivities } from '../activities/gpu';
import type { BlobStore } from '../src/blob';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import { runnerFactory } from '../src/distill/runners';
import { type EmbedderSource, lazyEmbedder } from '../src/embeddings/lazy';
import { type WorkerHandle, createWorker } from '../src/temporal/worker';

/**
 * The composition root: the one place that turns configuration and opened resources into activities and workers.
 * `distillery worker`, `distillery dev` (and the demo), the test stack and the benchmarks all build their workers
 * here, so a new dependency is wired once.
 */
export type CpuConfig = Pick<Config, 'blob' | 'ingest' | 'embeddings' | 'manifest' | 'cheapModel' | 'temporal' | 'adapterServerUrl'>;

/** `resources.embedder` replaces the configured one (a benchmark's synthetic vectors); by default it is built lazily. */
export function cpuActivities(config: CpuConfig, resources: { db: Db; blob: BlobStore; embedder?: EmbedderSource }) {
  const embedder = resources.embedder ?? lazyEmbedder(config.embeddings);
  return createActivities({
    db: resources.db,
    blob: resources.blob,
    blobConfig: config.blob,
    allowedSources: config.ingest.allowedSources,
    embedder,
    judge: tenantJudges(resources.db, embedder),
    adapterServerUrl: config.adapterServerUrl,
    manifestHmacKey: config.manifest.hmacKey,
    cheapModel: config.cheapModel,
    temporalClient: lazyClient(config.temporal),
  });
}

export function gpuActivities(config: Pick<Config, 'training'>, resources: { blob: BlobStore }) {
  return createGpuActivities({ blob: resources.blob, runner: runnerFactory(config.training), workRoot: config.training.workDir });
}

/** The CPU worker: every workflow and the CPU activities, on the `distillery` task queue. */
export function startCpuWorker(
  config: CpuConfig & Pick<Config, 'temporal'>,
  resources: { db: Db; blob: BlobStore },
  opts: { workflowBundlePath?: string } = {},
): Promise<WorkerHandle> {
  return createWorker({
    temporal: config.temporal,
    taskQueue: config.temporal.taskQueue,
    activities: cpuActivities(config, resources),
    workflowBundlePath: opts.workflowBundlePath,
  });
}

/**
 * The GPU worker: training and student inference, one at a time. Heartbeats are throttled to the GPU activities'
 * own interval, so a cancellation reaches the trainer in about a second.
 */
export function startGpuWorker(config: Pick<Config, 'training' | 'temporal'>, resources: { blob: BlobStore }): Promise<WorkerHandle> {
  return createWorker({
    temporal: config.temporal,
    taskQueue: config.temporal.gpuTaskQueue,
    activities: gpuActivities(config, resources),
    workflows: false,
    maxConcurrentActivityTaskExecutions: 1,
    maxHeartbeatThrottleInterval: GPU_HEARTBEAT_THROTTLE,
  });
}

/** One Temporal client per worker, connected on first use (activities that start or signal workflows). */
function lazyClient(temporal: Config['temporal']): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () => (client ??= connectClient(temporal));
}
