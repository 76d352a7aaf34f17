import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { scenarios } from './scenarios';
import { HISTORIES_DIR, workflowBundle } from './support';

/**
 * Replays every recorded history (record-histories.ts) through today's workflow code. A change that would make a
 * running execution take a different path (an activity reordered, a timer added, a child renamed) fails here
 * instead of in production; guard such changes with patched() (README "Versioning workflows").
 */
// Each file: the workflow id and the History message's own JSON form (record-histories.ts), read back with fromObject.
const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('workflow replay', () => {
  it('has a recorded history for every scenario', () => {
    expect(files.map((f) => f.replace(/\.json$/, ''))).toEqual(expect.arrayContaining(Object.keys(scenarios)));
  });

  it('replays every recorded history deterministically', async () => {
    const histories = files.map((f) => {
      const recorded = JSON.parse(readFileSync(path.join(HISTORIES_DIR, f), 'utf8')) as { workflowId: string; history: object };
      return { workflowId: recorded.workflowId, history: temporal.api.history.v1.History.fromObject(recorded.history) };
    });
    const failures: string[] = [];
    let replayed = 0;
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      replayed++;
      if (r.error) failures.push(`${r.workflowId}: ${r.error.name}: ${r.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
