import { type Command, Option } from 'commander';
import { evaluateClustering, formatEvaluation } from '../clustering/evaluate';
import { clusterEventsOf, clusterSnapshot, getCluster, runEvents, runSnapshots } from '../clustering/store';
import { startClustering } from '../temporal/starters';
import { SHARED_DATASETS } from '../datasets/shared';
import { loadConfig } from '../config';
import { InputError } from '../errors';
import { connectClient } from '../temporal/client';
import { forEachDataset, pct, runOf, withDb } from './common';

export function registerClusterCommands(program: Command): void {
  const cmd = program.command('clusters').description('query clusters: run, list by traffic share, show one, compare two runs');

  cmd
    .command('run')
    .description('cluster a tenant’s queries for a period through the cluster workflow')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--from <date>', 'start of the period (ISO), inclusive')
    .option('--to <date>', 'end of the period (ISO), exclusive')
    .option('--accepted-only', 'only interactions whose latest feedback accepted them')
    .option('--threshold <cosine>', 'cosine a query needs to its cluster (default 0.7)', Number)
    .addOption(
      new Option('--algorithm <a>', 'leader (default; proven at 1M queries) or graph (kNN graph + Louvain; better NMI, more memory)').choices([
        'leader',
        'graph',
      ]),
    )
    .action(async (o: { tenant: string; from?: string; to?: string; acceptedOnly?: boolean; threshold?: number; algorithm?: 'leader' | 'graph' }) => {
      const config = loadConfig();
      const client = await connectClient(config.temporal);
      try {
        const handle = await startClustering(client, config.temporal.taskQueue, {
          tenantId: o.tenant,
          from: o.from,
          to: o.to,
          acceptedOnly: o.acceptedOnly,
          params:
            o.threshold || o.algorithm ? { ...(o.threshold ? { threshold: o.threshold } : {}), ...(o.algorithm ? { algorithm: o.algorithm } : {}) } : undefined,
        });
        console.log(`started ${handle.workflowId}`);
        const r = await handle.result();
        console.log(
          `done: ${r.interactions} interactions, ${r.distinct} distinct queries, ${r.clusters} clusters holding ${pct(r.clusteredShare)} of traffic; identities: ${JSON.stringify(r.events)}\nrun ${r.runId}`,
        );
      } finally {
        await client.close();
      }
    });

  cmd
    .command('list')
    .description('clusters of a run (default: the tenant’s latest), by share of traffic')
    .option('--tenant <id>', 'tenant')
    .option('--run <id>', 'clustering run id')
    .option('--limit <n>', 'how many', Number, 30)
    .action(async (o: { tenant?: string; run?: string; limit: number }) =>
      withDb(async (db) => {
        const runId = await runOf(db, o.tenant, o.run);
        const rows = await runSnapshots(db, runId, o.limit);
        console.log(`run ${runId}\n${'id'.padEnd(16)} ${'share'.padStart(6)} ${'size'.padStart(7)} ${'cohes.'.padStart(6)}  label`);
        for (const r of rows)
          console.log(`${r.clusterId.padEnd(16)} ${pct(r.share).padStart(6)} ${String(r.size).padStart(7)} ${r.cohesion.toFixed(2).padStart(6)}  ${r.label}`);
      }),
    );

  cmd
    .command('show <clusterId>')
    .description('one cluster: label, keywords, representative queries, figures, lineage')
    .option('--run <id>', 'as seen by this run (default: its latest)')
    .action(async (id: string, o: { run?: string }) =>
      withDb(async (db) => {
        const c = await getCluster(db, id);
        if (!c) throw new InputError('clusterId', `no cluster ${id}`);
        const snap = await clusterSnapshot(db, id, o.run);
        console.log(`${c.id}  [${c.status}${c.successorIds.length ? ` -> ${c.successorIds.join(', ')}` : ''}]  ${c.label}`);
        console.log(`keywords: ${c.keywords.join(', ')}`);
        if (snap) {
          console.log(
            `run ${snap.runId}: ${snap.size} interactions (${pct(snap.share)} of traffic), ${snap.distinctQueries} distinct queries, cohesion ${snap.cohesion.toFixed(3)}`,
          );
          for (const r of snap.representatives) console.log(`  ${String(r.count).padStart(5)} × ${r.text}`);
        }
        const events = await clusterEventsOf(db, id);
        for (const e of events) console.log(`event ${e.kind}: ${e.fromIds.join(', ') || '-'} -> ${e.toIds.join(', ') || '-'}  (run ${e.runId})`);
      }),
    );

  cmd
    .command('eval')
    .description('score clustering against labelled data sets (labels used only to score): NMI, ARI, purity, coverage/purity curve')
    .option('--dataset <names...>', `data sets: ${SHARED_DATASETS.join(', ')}`, ['banking77', 'hwu64', 'bitext-v2'])
    .option('--threshold <cosine>', 'cosine a query needs to its cluster (default 0.7)', Number)
    .addOption(new Option('--algorithm <a>', 'leader (default) or graph').choices(['leader', 'graph']))
    .action(async (o: { dataset: string[]; threshold?: number; algorithm?: 'leader' | 'graph' }) => {
      const params = { ...(o.threshold ? { threshold: o.threshold } : {}), ...(o.algorithm ? { algorithm: o.algorithm } : {}) };
      await forEachDataset(o.dataset, async (d, embed) => console.log(formatEvaluation(await evaluateClustering(d, embed, params))));
    });

  cmd
    .command('compare <runA> <runB>')
    .description('how traffic shares and identities changed between two clustering runs')
    .option('--limit <n>', 'rows', Number, 40)
    .action(async (a: string, b: string, o: { limit: number }) =>
      withDb(async (db) => {
        const load = async (run: string) => new Map((await runSnapshots(db, run)).map((r) => [r.clusterId, r]));
        const [sa, sb] = [await load(a), await load(b)];
        if (!sa.size || !sb.size) throw new InputError(!sa.size ? 'runA' : 'runB', 'no clusters recorded for that run');
        const ids = [...new Set([...sa.keys(), ...sb.keys()])].sort(
          (x, y) => (sb.get(y)?.share ?? 0) + (sa.get(y)?.share ?? 0) - (sb.get(x)?.share ?? 0) - (sa.get(x)?.share ?? 0),
        );
        const kept = ids.filter((id) => sa.has(id) && sb.has(id)).length;
        console.log(`${sa.size} clusters in A, ${sb.size} in B, ${kept} kept their id (${pct(kept / Math.max(1, sa.size))} of A)`);
        console.log(`${'id'.padEnd(16)} ${'A'.padStart(6)} ${'B'.padStart(6)}  label`);
        for (const id of ids.slice(0, o.limit))
          console.log(
            `${id.padEnd(16)} ${(sa.get(id) ? pct(sa.get(id)!.share) : '-').padStart(6)} ${(sb.get(id) ? pct(sb.get(id)!.share) : '-').padStart(6)}  ${(sb.get(id) ?? sa.get(id))!.label}`,
          );
        for (const e of await runEvents(db, b)) console.log(`event ${e.kind}: ${e.fromIds.join(', ') || '-'} -> ${e.toIds.join(', ') || '-'}`);
      }),
    );
}
