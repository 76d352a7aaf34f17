import { printToolScriptCandidate } from './toolscripts';
import { InputError } from '../errors';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type Command, Option } from 'commander';
import { CANDIDATE_STATUSES, type CandidateStatus } from '../vocabulary';
import { SHARED_DATASETS } from '../datasets/shared';
import type { Decision } from '../graduation/decision';
import { evaluateGraduation, formatGraduationEvaluation } from '../graduation/evaluate';
import { type CandidateCluster, candidateClusters, getCandidate, listCandidates } from '../graduation/store';
import { withServing } from '../graduation/serving';
import type { Evidence, ReplayRow } from '../graduation/verify';
import { forEachDataset, pct, resolveRun, withClient, withDb } from './common';
import { decideCandidate, startGraduation } from '../temporal/starters';

const reviewerDefault = () => process.env.DISTILLERY_REVIEWER ?? process.env.USER ?? safeUsername();

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

/**
 * The reviewer a CLI decision records. The CLI decides with direct database and Temporal access (an operator), so
 * the name is the operator's word, not an API key's: it is marked `cli:` so the audit trail tells the two apart
 * (API decisions record the key's name, which a caller cannot choose).
 */
export function operatorReviewer(name: string): string {
  const n = name.trim().replace(/^cli:/, '');
  return n ? `cli:${n}` : '';
}

function parseJsonFile(file: string, option: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InputError(option, `must be a JSON file: ${(err as Error).message}`);
  }
}

export function registerGraduationCommands(program: Command): void {
  const grad = program.command('graduate').description('turn frequent clusters into verified templates (graduation) and score it');

  grad
    .command('run')
    .description('graduate a clustering run (default: the tenant’s latest): induce candidates, verify by replay, open a review per candidate')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--run <id>', 'clustering run id')
    .option('--expire-after-days <n>', 'an unreviewed candidate expires after this many days', Number, 14)
    .option('--remind-every-hours <n>', 'remind reviewers this often', Number, 24)
    .action(async (o: { tenant: string; run?: string; expireAfterDays: number; remindEveryHours: number }) => {
      const clusterRunId = await resolveRun(o.tenant, o.run);
      await withClient(async (client, config) => {
        const taskQueue = config.temporal.taskQueue;
        const handle = await startGraduation(client, taskQueue, {
          tenantId: o.tenant,
          clusterRunId,
          expireAfterMs: o.expireAfterDays * 86_400_000,
          remindEveryMs: o.remindEveryHours * 3_600_000,
        });
        console.log(`started ${handle.workflowId}`);
        const r = await handle.result();
        console.log(`done: ${r.clustersConsidered} clusters, ${r.passed} candidates passed replay and await review, ${r.failed} failed verification`);
        console.log(`review them with \`distillery review list --tenant ${o.tenant}\` or on the review page (GET /review of the api)`);
      });
    });

  grad
    .command('eval')
    .description('score graduation on labelled data (labels only score): share of unseen traffic served by approved-quality candidates, intent precision')
    .option('--dataset <names...>', `data sets: ${SHARED_DATASETS.join(', ')}`, ['bitext-v1', 'bitext-v2'])
    .option('--threshold <cosine>', 'clustering threshold (default 0.7)', Number)
    .action(async (o: { dataset: string[]; threshold?: number }) => {
      await forEachDataset(o.dataset, async (d, embed) =>
        console.log(formatGraduationEvaluation(await evaluateGraduation(d, embed, o.threshold ? { cluster: { threshold: o.threshold } } : {}))),
      );
    });

  const review = program.command('review').description('review graduation candidates from the terminal (same as the review page)');

  review
    .command('list')
    .description('candidates by traffic they would take off the teacher')
    .requiredOption('--tenant <id>', 'tenant')
    .addOption(new Option('--status <s>', 'which').choices([...CANDIDATE_STATUSES, 'all']).default('pending_review'))
    .action(async (o: { tenant: string; status: CandidateStatus | 'all' }) =>
      withDb(async (db) => {
        const rows = await withServing(db, o.tenant, await listCandidates(db, o.tenant, { status: o.status }));
        if (!rows.length) return console.log(`no ${o.status === 'all' ? '' : `${o.status} `}candidates for ${o.tenant}`);
        console.log(
          `${'id'.padEnd(15)} ${'status'.padEnd(19)} ${'kind'.padEnd(8)} ${'share'.padStart(6)} ${'prec.'.padStart(6)} ${'lower'.padStart(6)} ${'cover'.padStart(6)}  label`,
        );
        for (const r of rows) {
          console.log(
            `${r.id.padEnd(15)} ${r.status.padEnd(19)} ${r.kind.padEnd(8)} ${pct(r.trafficShare).padStart(6)} ${r.precision.toFixed(3).padStart(6)} ${r.precisionLowerBound.toFixed(3).padStart(6)} ${r.coverage.toFixed(3).padStart(6)}  ${r.label}${r.warnings.length ? '  (!) warning' : ''}`,
          );
          if (r.serving) console.log(`${''.padEnd(16)}${r.serving.served ? `serving in manifest v${r.serving.version}` : `NOT serving: ${r.serving.reason}`}`);
        }
      }),
    );

  review
    .command('show <candidateId>')
    .description('one candidate: its answer, evidence, rendered vs accepted answers on held-out queries, decision')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--examples <n>', 'held-out examples to show', Number, 5)
    .action(async (id: string, o: { tenant: string; examples: number }) =>
      withDb(async (db) => {
        const detail = await getCandidate(db, o.tenant, id);
        if (detail.candidate.kind === 'toolscript') return printToolScriptCandidate(detail, o.examples);
        const { candidate: c, versions, decision } = detail;
        const v = versions.find((x) => x.version === c.currentVersion)!;
        const e = v.evidence;
        console.log(
          `${c.id}  [${c.status}]  ${c.kind}  ${c.label}\nclusters: ${c.clusterIds.join(', ')}  (${pct(c.trafficShare)} of traffic, run ${c.clusterRunId})`,
        );
        console.log(`version ${v.version} by ${v.author}:\n---\n${v.template}\n---`);
        if (v.script) console.log(`script: ${JSON.stringify(v.script)}`);
        console.log(
          `replay (${e.match} match): precision ${e.precision.toFixed(3)} (95% lower bound ${e.precisionLowerBound.toFixed(3)}) on ${e.covered}/${e.heldOut} held-out, coverage ${e.coverage.toFixed(3)}; neighbour false positives ${e.falsePositives.wrong}/${e.falsePositives.tested}`,
        );
        for (const r of e.reasons) console.log(`  fails: ${r}`);
        for (const w of e.warnings) console.log(`  warning: ${w}`);
        if (e.judged) {
          for (const line of judgedLines(e.judged, await candidateClusters(db, detail), e.examples.slice(0, o.examples))) console.log(line);
        } else {
          for (const x of e.examples.slice(0, o.examples))
            console.log(
              `  ${x.agrees ? 'agrees  ' : 'DIFFERS '} ${JSON.stringify(x.query)}${x.agrees ? '' : `\n    rendered: ${JSON.stringify(x.rendered ?? x.error)}\n    accepted: ${JSON.stringify(x.accepted)}`}`,
            );
        }
        if (decision)
          console.log(
            `decision: ${decision.decision} by ${decision.reviewer} at ${decision.decidedAt.toISOString()}${decision.comment ? ` — ${decision.comment}` : ''}`,
          );
      }),
    );

  const decide =
    (action: Decision['action']) =>
    async (id: string, o: { tenant: string; reviewer: string; comment?: string; templateFile?: string; scriptFile?: string }) => {
      // Scoped to the tenant: a reviewer can only decide on candidates of the tenant they name.
      await withDb((db) => getCandidate(db, o.tenant, id));
      const decision: Partial<Decision> = { action, reviewer: operatorReviewer(o.reviewer), comment: o.comment };
      if (o.templateFile) decision.template = readFileSync(o.templateFile, 'utf8');
      if (o.scriptFile) {
        // A tool script is edited as a whole recipe (JSON, as `review show` prints it); re-verified by trace replay.
        decision.script = parseJsonFile(o.scriptFile, '--script-file');
        decision.template ??= '(tool script)';
      }
      const r = await withClient((client) => decideCandidate(client, id, decision));
      console.log(`${r.candidateId}: ${r.status} (version ${r.version})${r.routes.length ? `; tier entries for ${r.routes.join(', ')}` : ''}`);
    };

  review
    .command('approve <candidateId>')
    .description('approve a candidate (with --template-file: approve with edits, re-verified first)')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--reviewer <name>', 'who approves, recorded as cli:<name> (default $DISTILLERY_REVIEWER or the OS user)', reviewerDefault())
    .option('--comment <text>', 'why')
    .option('--template-file <path>', 'edited template (Handlebars) to approve instead')
    .option('--script-file <path>', 'tool scripts: the edited recipe (JSON) to approve instead')
    .action(async (id: string, o: { tenant: string; reviewer: string; comment?: string; templateFile?: string; scriptFile?: string }) =>
      decide(o.templateFile || o.scriptFile ? 'approve_with_edits' : 'approve')(id, o),
    );

  review
    .command('reject <candidateId>')
    .description('reject a candidate (a comment saying why is required)')
    .requiredOption('--tenant <id>', 'tenant')
    .option('--reviewer <name>', 'who rejects, recorded as cli:<name> (default $DISTILLERY_REVIEWER or the OS user)', reviewerDefault())
    .requiredOption('--comment <text>', 'why')
    .action(async (id: string, o: { tenant: string; reviewer: string; comment: string }) => decide('reject')(id, o));
}

/** `review show` of a judged candidate: the judge and budget, its clusters, forms, route thresholds and replays. */
export function judgedLines(j: NonNullable<Evidence['judged']>, clusters: CandidateCluster[], rows: ReplayRow[]): string[] {
  const agreeAt = 1 - j.budget.maxErrorRate;
  const out = [
    `judge: ${j.judge} (calibration AUC ${j.calibrationAuc.toFixed(3)}); budget: wrong <= ${pct(j.budget.maxErrorRate)} at ${pct(j.budget.confidence)} (${j.budget.method}); right at P(agree) >= ${agreeAt.toFixed(3)}`,
    `clusters (${clusters.length}${j.pooled.length > 1 ? ' pooled' : ''}):`,
    ...clusters.map(
      (c) => `  ${c.clusterId}${c.serves ? '' : ' (pooled, not served)'}  ${c.label}  e.g. ${c.examples.map((q) => JSON.stringify(q)).join(', ')}`,
    ),
    `forms (${j.forms.length}):`,
    ...j.forms.map((f) => `  [${f.slots.join(', ') || 'no slots'}] support ${f.support}: ${JSON.stringify(f.template)}`),
    `route thresholds:${j.routes.length ? '' : ' none admitted within the budget'}`,
    ...j.routes.map((r) => `  ${r.clusterId}  threshold ${r.threshold.toFixed(3)}  (${r.errors} wrong of ${r.n} held out)`),
    `replays (rendered | accepted | verdict p):`,
  ];
  for (const x of rows)
    out.push(
      `  ${JSON.stringify(x.query)}\n    ${JSON.stringify(x.rendered ?? `(${x.error ?? 'no rendering'})`)} | ${JSON.stringify(x.accepted)} | ${x.agrees ? 'agrees' : 'DISAGREES'} ${x.semantic === undefined ? '-' : x.semantic.toFixed(3)}`,
    );
  return out;
}
