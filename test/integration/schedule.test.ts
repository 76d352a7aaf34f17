import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, spawnCli } from '../support/cli';
import { type Stack, connectStack } from '../support/stack';

const run = promisify(execFile);
const tenant = 'sched-it';
let s: Stack;
beforeAll(async () => {
  s = await connectStack();
});
afterAll(async () => {
  await s?.close();
});

async function cli(...args: string[]): Promise<{ code: number | null; out: string }> {
  const p = spawnCli(args, s.env);
  const code = await p.exited;
  return { code, out: p.output() };
}

/** `temporal schedule list` as an operator would run it, with the project's pinned Temporal CLI. */
async function temporalScheduleList(): Promise<string> {
  const { stdout } = await run(
    path.join(REPO, '.venv', 'bin', 'temporal'),
    ['schedule', 'list', '--address', s.stack.temporalAddress, '--namespace', 'default'],
    { timeout: 30_000 },
  );
  return stdout;
}

describe('monthly retrain schedule', () => {
  it('`distillery schedule create` makes a schedule that `temporal schedule list` shows, with overlap skip', async () => {
    const created = await cli('schedule', 'create', '--tenant', tenant, '--cron', '0 3 1 * *', '--paused');
    expect(created.code, created.out).toBe(0);
    expect(created.out).toMatch(/schedule retrain:sched-it:monthly created \(0 3 1 \* \*, overlap skip, paused\)/);
    // Visibility of a new schedule can lag a moment behind its creation.
    let listed = '';
    for (let i = 0; i < 30 && !listed.includes('retrain:sched-it:monthly'); i++) {
      listed = await temporalScheduleList();
      if (!listed.includes('retrain:sched-it:monthly')) await new Promise((r) => setTimeout(r, 500));
    }
    expect(listed).toContain('retrain:sched-it:monthly');
    const d = await s.client.schedule.getHandle('retrain:sched-it:monthly').describe();
    expect(d.policies.overlap).toBe('SKIP');
    expect(d.action.type === 'startWorkflow' && d.action.workflowType).toBe('retrainWorkflow');
    expect(d.info.nextActionTimes[0]!.getUTCDate()).toBe(1);
  });

  it('a second create is refused with a clear message; pause, unpause, describe and delete work from the CLI', async () => {
    const again = await cli('schedule', 'create', '--tenant', tenant);
    expect(again.code).toBe(2);
    expect(again.out).toMatch(/already exists/);
    expect((await cli('schedule', 'describe', '--tenant', tenant)).out).toMatch(/PAUSED/);
    expect((await cli('schedule', 'unpause', '--tenant', tenant)).code).toBe(0);
    expect((await cli('schedule', 'describe', '--tenant', tenant)).out).toMatch(/: active/);
    expect((await cli('schedule', 'pause', '--tenant', tenant, '--note', 'holiday freeze')).code).toBe(0);
    expect((await s.client.schedule.getHandle('retrain:sched-it:monthly').describe()).state.note).toBe('holiday freeze');
    const badBackfill = await cli('schedule', 'backfill', '--tenant', tenant, '--from', 'yesterday');
    expect(badBackfill.code).toBe(2);
    expect(badBackfill.out).toMatch(/--from/);
    expect((await cli('schedule', 'delete', '--tenant', tenant)).code).toBe(0);
    const gone = await cli('schedule', 'describe', '--tenant', tenant);
    expect(gone.code).toBe(2);
    expect(gone.out).toMatch(/no retrain schedule/);
  });
});
