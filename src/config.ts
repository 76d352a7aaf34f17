import path from 'node:path';
import { z } from 'zod';
import type { AllowedSources } from './ingest/allowed';
import { TASK_QUEUES } from './temporal/contract';

/**
 * All configuration comes from the environment (see .env.example). Each variable is validated on its own so a bad
 * one is reported by name with the fix, and all bad ones are reported at once.
 */
const port = z.coerce.number().int().min(0).max(65535);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** A comma-separated list; empty items are dropped. */
const list = (item: z.ZodString, example: string) =>
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).min(1, `list at least one entry, comma-separated, e.g. ${example}`));
// `bucket` or `bucket/prefix/`, optionally as s3://…; `{tenant}` stands for the importing tenant.
const BUCKET_ENTRY = /^(s3:\/\/)?[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^\s,]*)?$/;

const envSchema = z.object({
  DISTILLERY_DATA_DIR: z.string().min(1).default('.distillery'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/distillery')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  S3_BUCKET: z.string().min(3).optional(),
  S3_ENDPOINT: z.url('must be a URL such as http://127.0.0.1:9000').optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  S3_FORCE_PATH_STYLE: bool.default(true),
  S3_PREFIX: z.string().default(''),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port, e.g. 127.0.0.1:7233')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default(TASK_QUEUES.cpu),
  TEMPORAL_GPU_TASK_QUEUE: z.string().min(1).default(TASK_QUEUES.gpu),
  TEMPORAL_CLI_PATH: z.string().min(1).default('.venv/bin/temporal'),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(8787),
  API_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  API_BATCH_MAX_ITEMS: z.coerce.number().int().min(1).max(10_000).default(1000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  EMBEDDING_PROVIDER: z.enum(['local', 'openai']).default('local'),
  EMBEDDING_MODEL: z.string().min(1).optional(),
  EMBEDDING_MODEL_DIR: z.string().min(1).default('models'),
  OPENAI_BASE_URL: z.url('must be a URL such as http://127.0.0.1:8000/v1').optional(),
  OPENAI_API_KEY: z.string().optional(),
  ADAPTER_SERVER_URL: z.url('must be the OpenAI-compatible base URL of the adapter server, such as http://127.0.0.1:8000/v1').optional(),
  CHEAP_BASE_URL: z.url('must be the OpenAI-compatible base URL of the cheap model, such as https://api.openai.com/v1').optional(),
  CHEAP_API_KEY: z.string().optional(),
  CHEAP_MODEL: z.string().min(1).optional(),
  CHEAP_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  CHEAP_TRIAL_MAX_COST_USD: z.coerce.number().min(0).default(5),
  DISTILLERY_MANIFEST_HMAC_KEY: z.string().min(16, 'must be at least 16 characters (the HMAC key that signs manifests)').optional(),
  EMBEDDING_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).optional(),
  EMBEDDING_THREADS: z.coerce.number().int().min(1).max(1024).optional(),
  INGEST_ALLOWED_ROOTS: list(
    z.string().refine((p) => !p.includes('\0'), 'no NUL in paths'),
    '/srv/imports/{tenant},/data/shared',
  ).optional(),
  INGEST_ALLOWED_BUCKETS: list(
    z.string().regex(BUCKET_ENTRY, 'each entry is a bucket name, optionally with a prefix: my-bucket or my-bucket/imports/{tenant}/'),
    'my-bucket/imports/{tenant}/',
  ).optional(),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  dataDir: string;
  database: { kind: 'postgres'; url: string; poolMax: number } | { kind: 'pglite'; dir: string };
  blob:
    | {
        kind: 's3';
        bucket: string;
        endpoint?: string;
        region: string;
        forcePathStyle: boolean;
        prefix: string;
        credentials?: { accessKeyId: string; secretAccessKey: string };
      }
    | { kind: 'fs'; dir: string };
  temporal: { address: string; namespace: string; taskQueue: string; gpuTaskQueue: string; cliPath: string };
  api: { host: string; port: number; bodyLimitBytes: number; batchMaxItems: number };
  logLevel: Env['LOG_LEVEL'];
  embeddings: EmbeddingsConfig;
  /** Where imports may read from (src/ingest/allowed.ts); `{tenant}` in an entry is the importing tenant. */
  ingest: { allowedSources: AllowedSources };
  /** Fine-tuning: where GPU runners keep job files, and the OpenAI-compatible endpoint of the hosted runner. */
  training: { workDir: string; openai: { baseURL?: string; apiKey?: string } };
  /** Manifests: the HMAC key that signs them (publisher) and that routers verify them with, when set. */
  manifest: { hmacKey?: string };
  /** The adapter server the publish replay asks for the adapter routes' real answers (unset: the gate's figure). */
  adapterServerUrl?: string;
  /** The cheap tier's model for cheap-model trials (an OpenAI-compatible endpoint), when configured. */
  cheapModel?: { baseURL: string; apiKey?: string; model: string; timeoutMs: number; maxCostUsd: number };
}

/** Query embeddings (src/embeddings): in-process ONNX model (default) or an OpenAI-compatible endpoint. */
export type EmbeddingsConfig =
  | { provider: 'local'; model: string; modelDir: string; batchSize: number; threads?: number }
  | { provider: 'openai'; model: string; baseURL?: string; apiKey?: string; batchSize: number };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${String(i.path[0])}: ${i.message} (got ${JSON.stringify(raw[String(i.path[0])])})`);
    throw new ConfigError(`invalid configuration; fix these environment variables (see .env.example):\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if ((e.CHEAP_BASE_URL === undefined) !== (e.CHEAP_MODEL === undefined))
    throw new ConfigError('invalid configuration: CHEAP_BASE_URL and CHEAP_MODEL go together (the cheap model trials call)');
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new ConfigError('invalid configuration: set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (then the AWS default chain is used)');
  }
  if (e.EMBEDDING_PROVIDER === 'openai' && !e.EMBEDDING_MODEL) {
    throw new ConfigError(
      'invalid configuration: EMBEDDING_PROVIDER=openai needs EMBEDDING_MODEL (the model name the endpoint serves, e.g. text-embedding-3-small)',
    );
  }
  const dataDir = path.resolve(e.DISTILLERY_DATA_DIR);
  return {
    ingest: { allowedSources: allowedSources(e, dataDir) },
    dataDir,
    database: e.DATABASE_URL ? { kind: 'postgres', url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX } : { kind: 'pglite', dir: path.join(dataDir, 'pglite') },
    blob: e.S3_BUCKET
      ? {
          kind: 's3',
          bucket: e.S3_BUCKET,
          endpoint: e.S3_ENDPOINT,
          region: e.S3_REGION,
          forcePathStyle: e.S3_FORCE_PATH_STYLE,
          prefix: e.S3_PREFIX,
          credentials: e.S3_ACCESS_KEY_ID ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY! } : undefined,
        }
      : { kind: 'fs', dir: path.join(dataDir, 'blobs') },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      gpuTaskQueue: e.TEMPORAL_GPU_TASK_QUEUE,
      cliPath: path.resolve(e.TEMPORAL_CLI_PATH),
    },
    api: { host: e.API_HOST, port: e.API_PORT, bodyLimitBytes: e.API_BODY_LIMIT_BYTES, batchMaxItems: e.API_BATCH_MAX_ITEMS },
    logLevel: e.LOG_LEVEL,
    embeddings:
      e.EMBEDDING_PROVIDER === 'openai'
        ? { provider: 'openai', model: e.EMBEDDING_MODEL!, baseURL: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY, batchSize: e.EMBEDDING_BATCH_SIZE ?? 256 }
        : {
            provider: 'local',
            model: e.EMBEDDING_MODEL ?? 'all-MiniLM-L6-v2',
            modelDir: path.resolve(e.EMBEDDING_MODEL_DIR),
            batchSize: e.EMBEDDING_BATCH_SIZE ?? 32,
            threads: e.EMBEDDING_THREADS,
          },
    training: { workDir: path.join(dataDir, 'jobs'), openai: { baseURL: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY } },
    manifest: { hmacKey: e.DISTILLERY_MANIFEST_HMAC_KEY },
    ...(e.ADAPTER_SERVER_URL ? { adapterServerUrl: e.ADAPTER_SERVER_URL } : {}),
    ...(e.CHEAP_BASE_URL && e.CHEAP_MODEL
      ? {
          cheapModel: {
            baseURL: e.CHEAP_BASE_URL,
            apiKey: e.CHEAP_API_KEY,
            model: e.CHEAP_MODEL,
            timeoutMs: e.CHEAP_TIMEOUT_MS,
            maxCostUsd: e.CHEAP_TRIAL_MAX_COST_USD,
          },
        }
      : {}),
  };
}

/**
 * Default import sources, per tenant: the data dir's `imports/<tenant>/` folder (and, with the embedded blob store,
 * the store's `imports/<tenant>/`, where `distillery demo` puts its file), and the configured bucket's
 * `<S3_PREFIX>imports/<tenant>/`. Per tenant, so one tenant can never import another's files or the platform's
 * own objects (datasets, manifests). A setting replaces its default; entries are resolved against the working dir.
 */
function allowedSources(e: Env, dataDir: string): AllowedSources {
  const roots = e.INGEST_ALLOWED_ROOTS?.map((r) => path.resolve(r)) ?? [
    path.join(dataDir, 'imports', '{tenant}'),
    ...(e.S3_BUCKET ? [] : [path.join(dataDir, 'blobs', 'imports', '{tenant}')]),
  ];
  const buckets = e.INGEST_ALLOWED_BUCKETS?.map((b) => b.replace(/^s3:\/\//, '')) ?? (e.S3_BUCKET ? [`${e.S3_BUCKET}/${e.S3_PREFIX}imports/{tenant}/`] : []);
  return { roots, buckets };
}
