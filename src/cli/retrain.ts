import type { Command } from 'commander';
import { ScheduleNotFoundError } from '@temporalio/client';
import { InputError, NotFoundError } from '../errors';
import type { Runner } from '../vocabulary';
import { type RetrainInput, scheduleIds } from '../temporal/contract';
import { type TemporalClient, withClient } from './common';
import { trainerConfig } from './distill';
import { createRetrainSchedule, startRetrain } from '../temporal/starters';

function retrainInput(o: Record<string, unknown> & { tenant: string }, gpuTaskQueue: string): RetrainInput {
  return {
    tenantId: o.tenant,
    lookbackDays: o.lookbackDays as number | undefined,
    gpuTaskQueue,
    ...(o.threshold ? { cluster: { threshold: o.threshold as number } } : {}),
    ...(o.baseModel || o.config
      ? { distill: { trainer: trainerConfig(o), runner: (o.runner as Runner) ?? 'local', maxCategories: (o.maxCategories as number) ?? 3 } }
      : {}),
  };
}

const retrainOptions = (c: Command) =>
  c
    .requiredOption('--tenant <id>', 'tenant')
    .option('--lookback-days <n>', 'snapshot: interactions of the last n days (default 90)', Number)
    .option('--threshold <cosine>', 'clustering threshold (default 0.7)', Number)
    .option('--base-model <path>', 'distil with this base model (local directory, or hosted id with --runner openai); no distillation without it')
    .option('--config <file>', 'trainer config JSON (TrainerConfig)')
    .option('--runner <kind>', 'local | openai', 'local')
    .option('--max-categories <n>', 'categories fine-tuned per run (default 3)', Number)
    .option('--max-steps <n>', 'trainer optimizer steps', Number);

export function registerRetrainCommands(program: Command): void {
  retrainOptions(program.command('retrain').description('run one retrain now: cluster → graduate → distil → tier updates → replay → publish'))
    .option('--no-wait', 'return once started')
    .action(async (o: Record<string, unknown> & { tenant: string; wait: boolean }) =>
      withClient(async (client, config) => {
        const handle = await startRetrain(client, config.temporal.taskQueue, retrainInput(o, config.temporal.gpuTaskQueue));
        console.log(`started ${handle.workflowId}`);
        if (!o.wait) return;
        const r = await handle.result();
        console.log(
          `done: clustering ${r.clusterRunId}; ${r.candidatesForReview} candidates await review; adapters ${JSON.stringify(r.adapters)}; publish ${r.publish.status}${r.publish.version ? ` v${r.publish.version}` : ''}${r.publish.reasons.length ? ` (${r.publish.reasons.join('; ')})` : ''}`,
        );
        console.log(`stage timings: \`distillery runs --kind retrain\``);
      }),
    );

  const sch = program.command('schedule').description('the monthly retrain as a Temporal Schedule');
  retrainOptions(sch.command('create').description('create the tenant’s retrain schedule (visible with `temporal schedule list`)'))
    .option('--cron <expr>', 'when (cron, UTC)', '0 3 1 * *')
    .option('--paused', 'create it paused')
    .action(async (o: Record<string, unknown> & { tenant: string; cron: string; paused?: boolean }) =>
      withClient(async (client, config) => {
        const h = await createRetrainSchedule(client, config.temporal.taskQueue, retrainInput(o, config.temporal.gpuTaskQueue), {
          cron: o.cron,
          paused: o.paused,
        });
        const d = await h.describe();
        console.log(
          `schedule ${h.scheduleId} created (${o.cron}, overlap skip${o.paused ? ', paused' : ''}); next runs: ${d.info.nextActionTimes
            .slice(0, 3)
            .map((t) => t.toISOString())
            .join(', ')}`,
        );
      }),
    );
  const handleFor = (client: TemporalClient, tenant: string) => client.schedule.getHandle(scheduleIds.retrain(tenant));
  const act = (name: string, description: string, fn: (h: ReturnType<typeof handleFor>, o: Record<string, string>) => Promise<string>) =>
    sch
      .command(name)
      .description(description)
      .requiredOption('--tenant <id>', 'tenant')
      .option('--from <time>', 'backfill: start (ISO)')
      .option('--to <time>', 'backfill: end (ISO)')
      .option('--note <text>', 'pause/unpause: why')
      .action(async (o: Record<string, string>) =>
        withClient(async (client) => {
          try {
            console.log(await fn(handleFor(client, o.tenant!), o));
          } catch (err) {
            if (err instanceof ScheduleNotFoundError)
              throw new NotFoundError('--tenant', `no retrain schedule for ${o.tenant}: create it with \`distillery schedule create --tenant ${o.tenant}\``);
            throw err;
          }
        }),
      );
  act('describe', 'the schedule: spec, state, recent and next runs', async (h) => {
    const d = await h.describe();
    return [
      `${d.scheduleId}: ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` (${d.state.note})` : ''}; overlap ${d.policies.overlap}`,
      `spec: ${JSON.stringify(d.spec)}`,
      `recent: ${d.info.recentActions.map((a) => `${a.takenAt.toISOString()} ${a.action.type === 'startWorkflow' ? a.action.workflow.workflowId : ''}`).join(', ') || 'none'}`,
      `next: ${d.info.nextActionTimes
        .slice(0, 3)
        .map((t) => t.toISOString())
        .join(', ')}`,
    ].join('\n');
  });
  act('pause', 'pause it (no runs until unpaused)', async (h, o) => (await h.pause(o.note ?? 'paused from the CLI'), `paused ${h.scheduleId}`));
  act('unpause', 'resume it', async (h, o) => (await h.unpause(o.note ?? 'unpaused from the CLI'), `unpaused ${h.scheduleId}`));
  act('trigger', 'run a retrain now through the schedule (overlap policy applies)', async (h) => (await h.trigger(), `triggered ${h.scheduleId}`));
  act('backfill', 'run the retrains the schedule would have run between --from and --to', async (h, o) => {
    if (!o.from || !o.to || Number.isNaN(Date.parse(o.from)) || Number.isNaN(Date.parse(o.to)))
      throw new InputError('--from', 'backfill needs --from and --to as ISO times, e.g. --from 2026-09-01 --to 2026-11-01');
    await h.backfill({ start: new Date(o.from), end: new Date(o.to), overlap: 'ALLOW_ALL' as never });
    return `backfill requested for ${h.scheduleId} over ${o.from}..${o.to}`;
  });
  act('delete', 'delete it (running retrains finish)', async (h) => (await h.delete(), `deleted ${h.scheduleId}`));
}
