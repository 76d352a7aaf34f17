import { compileTemplate } from './render';

/**
 * Tool scripts: a repeated tool-using task (look up the order, then its shipment, then answer) as a declarative
 * recipe that the router client runs against tool implementations the application registers. The recipe is data,
 * never code: every argument is a binding (a query slot, a constant, a word table learnt from the traces, or a field
 * of an earlier tool result), branches are equality tests on result fields, the answer is a strict Handlebars
 * template over the slots and results. Mining and verification live in src/toolscripts; this file is the part the
 * router needs (pure, no I/O besides the tools it is handed).
 *
 * Coverage: the recipe records, per step, the result fields it reads and their JSON types as the traces showed them,
 * and each branch's values. A result outside that (a field missing, another type, a branch value never seen) is not
 * guessed at: the run stops and the conversation goes to the frontier.
 */

/** A JSON path into a tool result: object keys and array indexes. */
export type ResultPath = Array<string | number>;

export type Binding =
  /** A masked value of the query (`id`, `email_2`, …); `digits` keeps only its digits, `number` parses them. */
  | { from: 'slot'; slot: string; transform?: 'digits' | 'number' }
  | { from: 'const'; value: unknown }
  /** The first query word (lower case) found in the table gives the value: a slot learnt from the traces. */
  | { from: 'word'; vocabulary: Record<string, unknown> }
  /** A field of step `step`'s result (an earlier step). */
  | { from: 'result'; step: number; path: ResultPath };

export interface ToolStep {
  tool: string;
  args: Record<string, Binding>;
}

/** `step`'s result at `path` equals one of `in`. */
export interface Condition {
  step: number;
  path: ResultPath;
  in: unknown[];
}

export interface ToolScriptBranch {
  /** All must hold; the first branch whose conditions hold is taken. */
  when: Condition[];
  /** Steps after the common prefix, numbered on from it (step indexes are global). */
  steps: ToolStep[];
  /** Strict Handlebars over the slots and `step0`, `step1`, … (the results). */
  answer: string;
  /** The result fields this branch's steps and answer read (see ToolScript.reads). */
  reads: ResultRead[];
}

export interface ResultRead {
  step: number;
  path: ResultPath;
  type: JsonType;
  /** A categorical field: the values the traces showed (another one is outside their coverage). */
  values?: unknown[];
}

export type JsonType = 'string' | 'number' | 'boolean' | 'null' | 'array' | 'object';

export interface ToolScript {
  kind: 'toolscript';
  /** Steps every run takes. */
  steps: ToolStep[];
  branches: ToolScriptBranch[];
  /** The prefix steps' result fields the recipe reads (bindings, conditions, answers), with the type the traces showed. */
  reads: ResultRead[];
}

/** A tool as the application registers it: JSON arguments in, a JSON result (or its JSON text) out. */
export type ToolImpl = (args: Record<string, unknown>) => unknown | Promise<unknown>;
export type ToolRegistry = Record<string, ToolImpl>;

export interface ScriptCall {
  tool: string;
  args: Record<string, unknown>;
  result?: unknown;
}

export type ScriptRun =
  | { status: 'answered'; answer: string; calls: ScriptCall[]; branch: number }
  /** Handed to the frontier: why, and the calls made so far (their results may help the model). */
  | { status: 'frontier'; reason: string; calls: ScriptCall[] };

export class ScriptStop extends Error {
  override readonly name = 'ScriptStop';
}

export function jsonType(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' ? t : 'object';
}

export function getPath(v: unknown, path: ResultPath): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Tool results may come back as JSON text (a `tool` message's content): parse it when it is JSON. */
export function parseResult(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

export function bindArg(b: Binding, ctx: { words: string[]; slots: Record<string, string>; results: unknown[] }): unknown {
  switch (b.from) {
    case 'const':
      return b.value;
    case 'slot': {
      const v = ctx.slots[b.slot];
      if (v === undefined) throw new ScriptStop(`the query has no ${b.slot} slot`);
      if (!b.transform) return v;
      const digits = v.replace(/[^0-9]/g, '');
      if (!digits) throw new ScriptStop(`slot ${b.slot} has no digits`);
      return b.transform === 'digits' ? digits : Number(digits);
    }
    case 'word': {
      const hit = ctx.words.find((w) => Object.hasOwn(b.vocabulary, w));
      if (hit === undefined) throw new ScriptStop('no word of the learnt vocabulary in the query');
      return b.vocabulary[hit];
    }
    case 'result': {
      const v = getPath(ctx.results[b.step], b.path);
      if (v === undefined) throw new ScriptStop(`step ${b.step} result has no ${b.path.join('.')}`);
      return v;
    }
  }
}

export function queryWords(query: string): string[] {
  return query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

function holds(c: Condition, results: unknown[]): boolean {
  const v = getPath(results[c.step], c.path);
  return c.in.some((x) => x === v);
}

/** Checks the reads of `step` against its result: missing fields or other types are outside the traces' coverage. */
function checkCoverage(reads: ResultRead[], step: number, tool: string, result: unknown): void {
  for (const r of reads) {
    if (r.step !== step) continue;
    const v = getPath(result, r.path);
    if (v === undefined) throw new ScriptStop(`step ${step} (${tool}) result has no ${r.path.join('.')}: not covered by the traces`);
    if (jsonType(v) !== r.type) throw new ScriptStop(`step ${step} (${tool}) result ${r.path.join('.')} is ${jsonType(v)}, the traces showed ${r.type}`);
    if (r.values && !r.values.includes(v))
      throw new ScriptStop(`step ${step} (${tool}) result ${r.path.join('.')} is ${JSON.stringify(v).slice(0, 60)}, a value the traces never showed`);
  }
}

/** What a script does next, given the results of the calls it has made so far (in step order). */
export type ScriptAction =
  | { kind: 'call'; step: number; tool: string; args: Record<string, unknown> }
  | { kind: 'answer'; answer: string; branch: number }
  | { kind: 'frontier'; reason: string };

/**
 * The script's next action after `results` (one per step taken, in order): the next tool call with its bound
 * arguments, or the answer once every step of the chosen branch has its result. Pure and stateless, so a run can be
 * driven by this process's tools (runToolScript) or by a client's, one chat turn at a time (the gateway's tool loop:
 * the conversation holds the results). Never throws: anything the traces did not cover → frontier.
 */
export function nextScriptAction(script: ToolScript, input: { query: string; slots: Record<string, string> }, results: ReadonlyArray<unknown>): ScriptAction {
  const ctx = { words: queryWords(input.query), slots: input.slots, results: [...results] };
  const step = (s: ToolStep, index: number, reads: ResultRead[]): ScriptAction | null => {
    if (index < results.length) {
      checkCoverage(reads, index, s.tool, results[index]);
      return null;
    }
    const args: Record<string, unknown> = {};
    for (const [k, b] of Object.entries(s.args)) args[k] = bindArg(b, ctx);
    return { kind: 'call', step: index, tool: s.tool, args };
  };
  try {
    for (let i = 0; i < script.steps.length; i++) {
      const a = step(script.steps[i]!, i, script.reads);
      if (a) return a;
    }
    const b = script.branches.findIndex((br) => br.when.every((c) => holds(c, ctx.results)));
    if (b < 0) throw new ScriptStop('no branch matches the results: a case the traces did not show');
    const branch = script.branches[b]!;
    for (let i = 0; i < script.steps.length; i++) checkCoverage(branch.reads, i, script.steps[i]!.tool, results[i]);
    for (let j = 0; j < branch.steps.length; j++) {
      const a = step(branch.steps[j]!, script.steps.length + j, branch.reads);
      if (a) return a;
    }
    const taken = script.steps.length + branch.steps.length;
    if (results.length > taken) throw new ScriptStop(`${results.length} results for a run of ${taken} steps`);
    return { kind: 'answer', answer: renderScriptAnswer(branch.answer, input.slots, ctx.results), branch: b };
  } catch (err) {
    if (err instanceof ScriptStop) return { kind: 'frontier', reason: err.message };
    return { kind: 'frontier', reason: `script failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
}

/**
 * Runs a script for one query. `slots` are the query's named slots (slotsOfQuery). Never throws for a recipe that
 * cannot complete: a missing binding, an uncovered result, no matching branch, a failing tool or template → frontier.
 */
export async function runToolScript(
  script: ToolScript,
  input: { query: string; slots: Record<string, string> },
  tools: ToolRegistry,
  opts: { toolTimeoutMs?: number } = {},
): Promise<ScriptRun> {
  const calls: ScriptCall[] = [];
  const results: unknown[] = [];
  for (;;) {
    const a = nextScriptAction(script, input, results);
    if (a.kind === 'answer') return { status: 'answered', answer: a.answer, calls, branch: a.branch };
    if (a.kind === 'frontier') return { status: 'frontier', reason: a.reason, calls };
    const impl = tools[a.tool];
    if (!impl) return { status: 'frontier', reason: `no tool "${a.tool}" registered`, calls };
    const call: ScriptCall = { tool: a.tool, args: a.args };
    calls.push(call);
    try {
      call.result = parseResult(await withTimeout(impl(a.args), opts.toolTimeoutMs, a.tool));
    } catch (err) {
      return { status: 'frontier', reason: `tool ${a.tool} failed: ${err instanceof Error ? err.message : String(err)}`, calls };
    }
    results.push(call.result);
  }
}

/** A tool that does not answer in time stops the run (the conversation goes to the frontier). */
async function withTimeout<T>(v: T | Promise<T>, ms: number | undefined, tool: string): Promise<T> {
  if (!ms || !(v instanceof Promise)) return v;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      v,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer from ${tool} within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The answer over slots and results (`{{step0.status}}`); strict: a missing value stops the run. */
export function renderScriptAnswer(template: string, slots: Record<string, string>, results: unknown[]): string {
  const values: Record<string, unknown> = { ...slots };
  results.forEach((r, i) => (values[`step${i}`] = r));
  try {
    return compileTemplate(template)(values);
  } catch (err) {
    throw new ScriptStop(`cannot render the answer: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

/** Handlebars path of a result field: `step1.items.[0].name`. */
export function templatePath(step: number, path: ResultPath): string {
  return [`step${step}`, ...path.map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `[${k}]`))].join('.');
}
