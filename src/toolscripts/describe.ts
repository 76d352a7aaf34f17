import { InputError } from '../errors';
import { compileTemplate } from '../serving/render';
import type { Binding, ToolScript, ToolStep } from '../serving/toolscript';

/** How a reviewer reads a script: one line per step, branch and answer (CLI, review page, the version's summary). */

function describeBinding(b: Binding): string {
  switch (b.from) {
    case 'slot':
      return `query ${b.slot}${b.transform ? ` (${b.transform})` : ''}`;
    case 'const':
      return JSON.stringify(b.value);
    case 'word':
      return `word of the query in {${Object.keys(b.vocabulary).slice(0, 6).join(', ')}${Object.keys(b.vocabulary).length > 6 ? ', …' : ''}}`;
    case 'result':
      return `step${b.step}.${b.path.join('.')}`;
  }
}

const step = (s: ToolStep, i: number) =>
  `step${i}: ${s.tool}(${Object.entries(s.args)
    .map(([k, b]) => `${k} = ${describeBinding(b)}`)
    .join(', ')})`;

/** The script as lines: common steps, then each branch's condition, steps and answer. */
export function scriptLines(script: ToolScript): string[] {
  const out = script.steps.map(step);
  script.branches.forEach((b, i) => {
    const cond = b.when.length ? b.when.map((c) => `step${c.step}.${c.path.join('.')} in ${JSON.stringify(c.in)}`).join(' and ') : 'always';
    out.push(`branch ${i} when ${cond}:`);
    b.steps.forEach((s, j) => out.push(`  ${step(s, script.steps.length + j)}`));
    out.push(`  answer: ${b.answer}`);
  });
  return out;
}

/** One line: what the version's `template` column holds for a script. */
export function describeScript(script: ToolScript): string {
  return scriptLines(script).join(' | ');
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a script a reviewer sent (approve with edits): shape, bindings, templates, naming the field at fault. */
export function parseToolScript(value: unknown): ToolScript {
  const bad = (f: string, m: string) => new InputError(`script${f}`, m);
  if (!isObj(value) || value.kind !== 'toolscript') throw bad('.kind', 'must be "toolscript" (send the whole recipe as shown by `review show`)');
  const steps = (v: unknown, f: string, from: number): ToolStep[] => {
    if (!Array.isArray(v)) throw bad(f, 'must be an array of {tool, args}');
    return v.map((s, i) => {
      if (!isObj(s) || typeof s.tool !== 'string' || !s.tool) throw bad(`${f}[${i}].tool`, 'must name the tool');
      if (!isObj(s.args)) throw bad(`${f}[${i}].args`, 'must map argument names to bindings');
      for (const [k, b] of Object.entries(s.args)) checkBinding(b, `${f}[${i}].args.${k}`, from + i, bad);
      return s as unknown as ToolStep;
    });
  };
  const common = steps(value.steps, '.steps', 0);
  if (!Array.isArray(value.branches) || !value.branches.length) throw bad('.branches', 'must be a non-empty array');
  value.branches.forEach((b, i) => {
    if (!isObj(b)) throw bad(`.branches[${i}]`, 'must be {when, steps, answer, reads}');
    if (!Array.isArray(b.when)) throw bad(`.branches[${i}].when`, 'must be an array of {step, path, in}');
    steps(b.steps, `.branches[${i}].steps`, common.length);
    if (typeof b.answer !== 'string' || !b.answer) throw bad(`.branches[${i}].answer`, 'must be a Handlebars template');
    try {
      compileTemplate(b.answer);
    } catch (err) {
      throw bad(`.branches[${i}].answer`, (err as Error).message);
    }
    if (!Array.isArray(b.reads)) throw bad(`.branches[${i}].reads`, 'must be an array');
  });
  if (!Array.isArray(value.reads)) throw bad('.reads', 'must be an array');
  return value as unknown as ToolScript;
}

function checkBinding(b: unknown, f: string, stepIndex: number, bad: (f: string, m: string) => InputError): void {
  if (!isObj(b)) throw bad(f, 'must be a binding {from: "slot"|"const"|"word"|"result", …}');
  if (b.from === 'slot' && typeof b.slot === 'string') return;
  if (b.from === 'const' && 'value' in b) return;
  if (b.from === 'word' && isObj(b.vocabulary)) return;
  if (b.from === 'result' && Number.isInteger(b.step) && Array.isArray(b.path)) {
    if ((b.step as number) >= stepIndex) throw bad(`${f}.step`, `must name an earlier step (below ${stepIndex})`);
    return;
  }
  throw bad(f, 'must be {from: "slot", slot}, {from: "const", value}, {from: "word", vocabulary} or {from: "result", step, path}');
}
