import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { freePort, isListening } from '../../src/dev/processes';
import { spawnCli } from '../support/cli';

it('`distillery dev` starts Temporal, PGlite, workers and the api on embedded defaults, and Ctrl-C stops it cleanly', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'distillery-dev-'));
  const [temporalPort, apiPort] = [await freePort(), await freePort()];
  const dev = spawnCli(['dev'], {
    DISTILLERY_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    API_PORT: String(apiPort),
    DATABASE_URL: '',
    S3_BUCKET: '',
    LOG_LEVEL: 'warn',
  });
  try {
    await dev.waitFor(/ready\./, 90_000);
    expect(dev.output()).toMatch(/embedded PGlite/);
    const health = await fetch(`http://127.0.0.1:${apiPort}/healthz`);
    expect(health.status).toBe(200);
    // The dev key does what the demo and the review page need (log and review), and no more.
    const key = readFileSync(path.join(dataDir, 'dev-api-key'), 'utf8').trim();
    const me = await fetch(`http://127.0.0.1:${apiPort}/v1/whoami`, { headers: { authorization: `Bearer ${key}` } });
    expect(await me.json()).toEqual({ tenant: 'default', name: 'dev', scopes: ['ingest', 'review'] });
    expect(await isListening(temporalPort)).toBe(true);
    dev.kill('SIGINT');
    expect(await dev.exited).toBe(0);
    expect(dev.output()).toMatch(/stopped/);
    expect(await isListening(temporalPort)).toBe(false);
    expect(await isListening(apiPort)).toBe(false);
  } finally {
    if (dev.exitCode === null) dev.kill('SIGKILL');
  }
});
