import type { Config } from '../config';
import { type SharedDatasetName, loadSharedDataset, toLogRecord } from '../datasets/shared';
import { DEV_TENANT, startLocalStack } from '../dev/stack';
import { startIngest } from '../ingest/start';
import { connectClient } from '../temporal/client';
import { ingestProgressQuery } from '../../workflows/ingest';

/**
 * The main job on embedded defaults, end to end and visible: start the stack, turn a shared data set into a JSONL
 * teacher log (with a few broken lines, as real logs have), import it through the ingest workflow with progress,
 * then log and rate one interaction through the HTTP API. Running it twice shows idempotency: nothing is stored twice.
 */
export async function runDemo(config: Config, opts: { dataset: SharedDatasetName; limit?: number }): Promise<void> {
  const step = (s: string) => console.log(`\n== ${s}`);
  step('starting the local stack');
  // The demo prints its own progress; services log warnings only unless LOG_LEVEL asks for more.
  const quiet = process.env.LOG_LEVEL ? config.logLevel : 'warn';
  const stack = await startLocalStack({ ...config, logLevel: quiet, api: { ...config.api, port: 0 } }, { temporal: 'ephemeral', api: true, log: (l) => console.log(`   ${l}`) });
  try {
    step(`writing a teacher log from the shared data set ${opts.dataset}`);
    const examples = loadSharedDataset(opts.dataset).slice(0, opts.limit);
    const lines = examples.map((ex, i) => JSON.stringify(toLogRecord(ex, i)));
    lines.splice(Math.min(10, lines.length), 0, '{"truncated": ', JSON.stringify({ messages: [{ role: 'user', content: 'no answer logged' }] }));
    const key = `imports/demo/${opts.dataset}.jsonl`;
    await stack.blob.put(key, lines.join('\n') + '\n');
    console.log(`   ${lines.length} lines (${examples.length} records, 2 broken) -> ${stack.blob.uri(key)}`);

    step('importing through the ingest workflow');
    const client = await connectClient(stack.config.temporal);
    try {
      const source = stack.blob.uri('imports/demo/');
      const handle = await startIngest(client, stack.config.temporal.taskQueue, { tenantId: DEV_TENANT, source, chunkBytes: 512 * 1024 });
      const started = Date.now();
      const timer = setInterval(async () => {
        const p = await handle.query(ingestProgressQuery).catch(() => undefined);
        if (p?.totals.lines) console.log(`   … ${p.totals.lines} lines read, ${p.totals.stored} stored, ${p.totals.duplicates} already known, ${p.totals.rejected} rejected`);
      }, 1000);
      const r = await handle.result().finally(() => clearInterval(timer));
      console.log(`   done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${r.stored} stored, ${r.duplicates} already known, ${r.rejected} rejected`);
      if (r.reportUri) console.log(`   rejected lines and reasons: ${r.reportUri}`);
    } finally {
      await client.close();
    }

    step('logging one interaction and its feedback through the HTTP API');
    const headers = { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' };
    const record = { ...toLogRecord({ query: 'How do I reset my password?', answer: 'Open Settings > Security and choose "Reset password".', label: '' }, 0), idempotency_key: 'demo-api-1' };
    const posted = await fetch(`${stack.apiUrl}/v1/interactions`, { method: 'POST', headers, body: JSON.stringify(record), signal: AbortSignal.timeout(10_000) });
    console.log(`   POST /v1/interactions -> ${posted.status} ${await posted.text()}`);
    const fb = await fetch(`${stack.apiUrl}/v1/feedback`, { method: 'POST', headers, body: JSON.stringify({ interaction_key: 'demo-api-1', kind: 'accepted' }), signal: AbortSignal.timeout(10_000) });
    console.log(`   POST /v1/feedback     -> ${fb.status} ${await fb.text()}`);
    const bad = await fetch(`${stack.apiUrl}/v1/interactions`, { method: 'POST', headers, body: JSON.stringify({ request: { model: 'gpt-4o' } }), signal: AbortSignal.timeout(10_000) });
    console.log(`   a bad record          -> ${bad.status} ${await bad.text()}`);
    console.log('\nClustering, graduation, distillation and publishing join this job as they land (see the README).');
  } finally {
    step('stopping');
    await stack.stop();
  }
}
