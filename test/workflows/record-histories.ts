/**
 * Re-records the replay test's histories: runs every scenario (scenarios.ts) once on the time-skipping test server
 * and saves each workflow's history as JSON under test/workflows/histories/.
 *
 *   npx tsx test/workflows/record-histories.ts            # all
 *   npx tsx test/workflows/record-histories.ts review-expired retrain-completed
 *
 * Re-record only on purpose: a history stands for executions already running in production. After a change that
 * needs a patch (README "Versioning workflows"), keep the old history and add one recorded with the new code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ScenarioName, scenarios } from './scenarios';
import { HISTORIES_DIR, timeSkippingEnv, workflowBundle } from './support';

const wanted = (process.argv.slice(2) as ScenarioName[]).filter(Boolean);
const names = wanted.length ? wanted : (Object.keys(scenarios) as ScenarioName[]);
for (const n of names) if (!(n in scenarios)) throw new Error(`unknown scenario "${n}": one of ${Object.keys(scenarios).join(', ')}`);

mkdirSync(HISTORIES_DIR, { recursive: true });
await workflowBundle();
for (const name of names) {
  // A fresh test server per scenario: its clock starts where no other scenario left it.
  const env = await timeSkippingEnv();
  try {
    const { handle, outcome } = await scenarios[name](env);
    const history = await handle.fetchHistory();
    const file = path.join(HISTORIES_DIR, `${name}.json`);
    // The workflow id (replay needs it: child ids derive from it) and the History message's own JSON form.
    writeFileSync(file, JSON.stringify({ workflowId: handle.workflowId, history }, null, 1) + '\n');
    console.log(
      `${name}: ${history.events?.length ?? 0} events, ${outcome.ok ? 'completed' : `failed (${outcome.error.message})`} → ${path.relative(process.cwd(), file)}`,
    );
  } finally {
    await env.teardown();
  }
}
