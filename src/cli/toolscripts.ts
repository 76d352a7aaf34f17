import type { CandidateDetail } from '../graduation/store';
import type { ToolScript } from '../serving/toolscript';
import { scriptLines } from '../toolscripts/describe';
import type { ToolScriptEvidence } from '../toolscripts/verify';

/**
 * `review show` for a tool-script candidate: the recipe (steps, bindings, branches, answers), its trace-replay
 * evidence, and held-out examples with the teacher's trace beside the script's.
 */
export function printToolScriptCandidate(d: CandidateDetail, examples: number): void {
  const c = d.candidate;
  const v = d.versions.find((x) => x.version === c.currentVersion)!;
  const script = v.script as unknown as ToolScript;
  const e = v.evidence as unknown as ToolScriptEvidence;
  console.log(`${c.id}  [${c.status}]  tool script  ${c.label}\nclusters: ${c.clusterIds.join(', ')}  (run ${c.clusterRunId})`);
  console.log(`version ${v.version} by ${v.author}:`);
  for (const l of scriptLines(script)) console.log(`  ${l}`);
  console.log(
    `replay: ${e.correct}/${e.served} served held-out traces exact (calls ${e.callAgreement.toFixed(3)}, answers ${e.answerAgreement.toFixed(3)}), ` +
      `coverage ${e.coverage.toFixed(3)} of ${e.heldOut}; error bound ${e.errorUpperBound.toFixed(3)} (budget ${e.budget.maxErrorRate}); ` +
      `other clusters' queries answered ${e.foreign.answered}/${e.foreign.tested}`,
  );
  for (const r of e.reasons) console.log(`  fails: ${r}`);
  for (const w of e.warnings) console.log(`  warning: ${w}`);
  const call = (x: { tool: string; args: unknown }) => `${x.tool}(${JSON.stringify(x.args)})`;
  for (const x of e.examples.slice(0, examples)) {
    const ok = x.callsAgree && x.answerAgrees;
    console.log(`  ${ok ? 'agrees  ' : 'DIFFERS '} ${JSON.stringify(x.query)}`);
    const n = Math.max(x.teacher.calls.length, x.script.calls.length);
    for (let i = 0; i < n; i++)
      console.log(`    teacher ${x.teacher.calls[i] ? call(x.teacher.calls[i]!) : '—'}\n    script  ${x.script.calls[i] ? call(x.script.calls[i]!) : '—'}`);
    console.log(
      `    teacher answer: ${JSON.stringify(x.teacher.answer)}\n    script answer:  ${JSON.stringify(x.script.answer ?? `(frontier: ${x.script.frontier})`)}`,
    );
  }
  if (d.decision) console.log(`decision: ${d.decision.decision} by ${d.decision.reviewer} at ${d.decision.decidedAt.toISOString()}`);
}
