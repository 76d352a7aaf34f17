import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';

/** loadConfig's error, or a failure when it did not throw. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('with an empty environment uses embedded PGlite and fs blobs under an absolute .distillery', () => {
    const c = loadConfig({});
    const dataDir = path.resolve('.distillery');
    expect(c.dataDir).toBe(dataDir);
    expect(path.isAbsolute(c.dataDir)).toBe(true);
    expect(c.database).toEqual({ kind: 'pglite', dir: path.join(dataDir, 'pglite') });
    expect(c.blob).toEqual({ kind: 'fs', dir: path.join(dataDir, 'blobs') });
    expect(c.temporal).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'distillery',
      gpuTaskQueue: 'distillery-gpu',
      cliPath: path.resolve('.venv/bin/temporal'),
    });
    expect(c.api).toEqual({ host: '127.0.0.1', port: 8787, bodyLimitBytes: 10 * 1024 * 1024, batchMaxItems: 1000 });
    expect(c.logLevel).toBe('info');
  });

  it('puts the embedded database and blobs under DISTILLERY_DATA_DIR', () => {
    const c = loadConfig({ DISTILLERY_DATA_DIR: '/srv/distillery' });
    expect(c.dataDir).toBe('/srv/distillery');
    expect(c.database).toEqual({ kind: 'pglite', dir: '/srv/distillery/pglite' });
    expect(c.blob).toEqual({ kind: 'fs', dir: '/srv/distillery/blobs' });
  });

  it('treats empty strings as unset (e.g. `DATABASE_URL=` in a .env file)', () => {
    const c = loadConfig({ DATABASE_URL: '', S3_BUCKET: '', API_PORT: '', S3_ACCESS_KEY_ID: '', LOG_LEVEL: '' });
    expect(c.database.kind).toBe('pglite');
    expect(c.blob.kind).toBe('fs');
    expect(c.api.port).toBe(8787);
    expect(c.logLevel).toBe('info');
  });

  it('ignores unrelated environment variables', () => {
    expect(() => loadConfig({ PATH: '/usr/bin', HOME: '/root', SOMETHING_ELSE: 'x' })).not.toThrow();
  });
});

describe('loadConfig database', () => {
  it('uses Postgres when DATABASE_URL is set, with the pool size', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/d' }).database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/d', poolMax: 10 });
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@db/d', DATABASE_POOL_MAX: '25' }).database).toEqual({
      kind: 'postgres',
      url: 'postgresql://u@db/d',
      poolMax: 25,
    });
  });

  it('rejects a non-postgres DATABASE_URL, naming the variable, the fix and the value', () => {
    const err = configError({ DATABASE_URL: 'mysql://u@db/d' });
    expect(err.message).toContain('DATABASE_URL: must be a postgres:// URL');
    expect(err.message).toContain('"mysql://u@db/d"');
  });

  it.each(['0', '201', '1.5', 'ten'])('rejects DATABASE_POOL_MAX=%s', (v) => {
    expect(configError({ DATABASE_URL: 'postgres://x/y', DATABASE_POOL_MAX: v }).message).toMatch(/DATABASE_POOL_MAX: .*\(got "/);
  });
});

describe('loadConfig blob store', () => {
  it('uses S3 when S3_BUCKET is set, with defaults for the rest', () => {
    expect(loadConfig({ S3_BUCKET: 'my-bucket' }).blob).toEqual({
      kind: 's3',
      bucket: 'my-bucket',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: true,
      prefix: '',
      credentials: undefined,
    });
  });

  it('passes endpoint, region, prefix, path style and both keys through', () => {
    const blob = loadConfig({
      S3_BUCKET: 'b-1',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_REGION: 'eu-west-1',
      S3_PREFIX: 'prod/',
      S3_FORCE_PATH_STYLE: 'false',
      S3_ACCESS_KEY_ID: 'AK',
      S3_SECRET_ACCESS_KEY: 'SK',
    }).blob;
    expect(blob).toEqual({
      kind: 's3',
      bucket: 'b-1',
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      forcePathStyle: false,
      prefix: 'prod/',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
    });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ] as const)('reads S3_FORCE_PATH_STYLE=%s as %s', (v, expected) => {
    const blob = loadConfig({ S3_BUCKET: 'bkt', S3_FORCE_PATH_STYLE: v }).blob;
    expect(blob.kind === 's3' && blob.forcePathStyle).toBe(expected);
  });

  it('rejects S3_FORCE_PATH_STYLE=yes by name', () => {
    expect(configError({ S3_BUCKET: 'bkt', S3_FORCE_PATH_STYLE: 'yes' }).message).toContain('S3_FORCE_PATH_STYLE');
  });

  it('rejects an S3_ENDPOINT that is not a URL', () => {
    const err = configError({ S3_BUCKET: 'bkt', S3_ENDPOINT: '127.0.0.1:9000 ' });
    expect(err.message).toContain('S3_ENDPOINT: must be a URL such as http://127.0.0.1:9000');
  });

  it('rejects a bucket name shorter than 3 characters', () => {
    expect(configError({ S3_BUCKET: 'ab' }).message).toContain('S3_BUCKET');
  });

  it.each([{ S3_ACCESS_KEY_ID: 'AK' }, { S3_SECRET_ACCESS_KEY: 'SK' }, { S3_ACCESS_KEY_ID: 'AK', S3_SECRET_ACCESS_KEY: '' }])(
    'requires both S3 keys or neither: %j',
    (keys) => {
      const err = configError({ S3_BUCKET: 'bkt', ...keys });
      expect(err.message).toContain('set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither');
    },
  );

  it('uses the fs store when only S3 details other than the bucket are set', () => {
    expect(loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000', S3_ACCESS_KEY_ID: 'a', S3_SECRET_ACCESS_KEY: 'b' }).blob.kind).toBe('fs');
  });
});

describe('loadConfig temporal, api and logging', () => {
  it('passes values through and resolves TEMPORAL_CLI_PATH', () => {
    const c = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'ns',
      TEMPORAL_TASK_QUEUE: 'q',
      TEMPORAL_GPU_TASK_QUEUE: 'gq',
      TEMPORAL_CLI_PATH: 'bin/temporal',
      API_HOST: '0.0.0.0',
      API_PORT: '0',
      API_BODY_LIMIT_BYTES: '2048',
      API_BATCH_MAX_ITEMS: '10000',
      LOG_LEVEL: 'silent',
    });
    expect(c.temporal).toEqual({
      address: 'temporal.internal:7233',
      namespace: 'ns',
      taskQueue: 'q',
      gpuTaskQueue: 'gq',
      cliPath: path.resolve('bin/temporal'),
    });
    expect(c.api).toEqual({ host: '0.0.0.0', port: 0, bodyLimitBytes: 2048, batchMaxItems: 10000 });
    expect(c.logLevel).toBe('silent');
  });

  it.each([
    ['TEMPORAL_ADDRESS', '127.0.0.1', 'must be host:port, e.g. 127.0.0.1:7233'],
    ['TEMPORAL_ADDRESS', 'http://h:7233', 'must be host:port'],
    ['API_PORT', '65536', 'API_PORT'],
    ['API_PORT', '-1', 'API_PORT'],
    ['API_PORT', 'http', 'API_PORT'],
    ['API_BODY_LIMIT_BYTES', '1023', 'API_BODY_LIMIT_BYTES'],
    ['API_BATCH_MAX_ITEMS', '10001', 'API_BATCH_MAX_ITEMS'],
    ['LOG_LEVEL', 'verbose', 'LOG_LEVEL'],
  ])('rejects %s=%s', (name, value, expected) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(`${name}: `);
    expect(err.message).toContain(expected);
    expect(err.message).toContain(`(got ${JSON.stringify(value)})`);
  });

  it('reports every bad variable at once, one per line, and points at .env.example', () => {
    const err = configError({ API_PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'sqlite://x', TEMPORAL_ADDRESS: 'nope' });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain('.env.example');
    const lines = err.message.split('\n').slice(1);
    expect(lines).toHaveLength(4);
    for (const name of ['API_PORT', 'LOG_LEVEL', 'DATABASE_URL', 'TEMPORAL_ADDRESS']) {
      expect(lines.some((l) => l.trim().startsWith(`${name}:`))).toBe(true);
    }
  });
});

describe('loadConfig allowed import sources', () => {
  it('defaults to per-tenant imports/ folders: the data dir, the fs blob store, no bucket', () => {
    const c = loadConfig({ DISTILLERY_DATA_DIR: '/srv/d' });
    expect(c.ingest.allowedSources).toEqual({ roots: ['/srv/d/imports/{tenant}', '/srv/d/blobs/imports/{tenant}'], buckets: [] });
  });

  it('with S3, defaults to the configured bucket under <S3_PREFIX>imports/<tenant>/ only', () => {
    const c = loadConfig({ DISTILLERY_DATA_DIR: '/srv/d', S3_BUCKET: 'acme-data', S3_PREFIX: 'prod/' });
    expect(c.ingest.allowedSources).toEqual({ roots: ['/srv/d/imports/{tenant}'], buckets: ['acme-data/prod/imports/{tenant}/'] });
  });

  it('takes comma-separated lists that replace the defaults; relative roots resolve, s3:// is optional', () => {
    const c = loadConfig({
      INGEST_ALLOWED_ROOTS: ' /data/shared , imports/{tenant} ,',
      INGEST_ALLOWED_BUCKETS: 's3://logs-bucket/teams/{tenant}/,other-bucket',
    });
    expect(c.ingest.allowedSources).toEqual({
      roots: ['/data/shared', path.resolve('imports/{tenant}')],
      buckets: ['logs-bucket/teams/{tenant}/', 'other-bucket'],
    });
  });

  it.each([
    ['INGEST_ALLOWED_BUCKETS', 'Bad_Bucket/x', 'each entry is a bucket name'],
    ['INGEST_ALLOWED_BUCKETS', ',,', 'list at least one entry'],
    ['INGEST_ALLOWED_ROOTS', ' , ', 'list at least one entry'],
  ])('rejects %s=%j by name', (name, value, expected) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain(`${name}: `);
    expect(err.message).toContain(expected);
  });
});
