import { escapeLiteral } from '../serving/render';
import { slotsOfQuery } from '../serving/slots';
import {
  type Binding,
  type Condition,
  type JsonType,
  type ResultPath,
  type ResultRead,
  type ToolScript,
  type ToolScriptBranch,
  type ToolStep,
  getPath,
  jsonType,
  queryWords,
  templatePath,
} from '../serving/toolscript';
import type { ToolTrace } from './trace';

/**
 * Script induction from the traces of one query cluster (pure). Each argument of each teacher call is explained by
 * the sources it could come from — a query slot, a field of an earlier result, a learnt word table, a constant —
 * and a binding is kept only when it explains that argument in every trace. Traces are grouped into variants by
 * their shape (tool names, argument names and where each argument comes from) and their answer template; variants
 * that share a prefix of steps and differ after it become branches when a field of the prefix results tells them
 * apart. Whatever cannot be bound yields no script (reasons say why): nothing is ever guessed.
 */

type Leaf = { path: ResultPath; value: unknown };

/** Scalar leaves of a result, depth-first, at most `max` (results are small records in practice). */
export function leaves(v: unknown, max = 200, depth = 6): Leaf[] {
  const out: Leaf[] = [];
  const walk = (x: unknown, path: ResultPath) => {
    if (out.length >= max) return;
    if (x !== null && typeof x === 'object') {
      if (path.length >= depth) return;
      if (Array.isArray(x)) x.forEach((y, i) => walk(y, [...path, i]));
      else for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...path, k]);
    } else out.push({ path, value: x });
  };
  walk(v, []);
  return out;
}

const key = (b: Binding) => JSON.stringify(b);

/** Every binding (but `const` and `word`, decided across traces) that yields `value` for this trace at step `step`. */
export function explain(value: unknown, trace: ToolTrace, step: number, slots: Record<string, string>): Binding[] {
  const out: Binding[] = [];
  for (const [slot, v] of Object.entries(slots)) {
    if (v === value) out.push({ from: 'slot', slot });
    const digits = v.replace(/[^0-9]/g, '');
    if (digits && digits !== v && digits === value) out.push({ from: 'slot', slot, transform: 'digits' });
    if (digits && typeof value === 'number' && Number(digits) === value) out.push({ from: 'slot', slot, transform: 'number' });
  }
  for (let s = 0; s < step; s++)
    for (const l of leaves(trace.calls[s]!.result)) if (l.value === value && value !== null) out.push({ from: 'result', step: s, path: l.path });
  return out;
}

/** The binding of one argument over traces, or a reason there is none. */
export function induceBinding(values: unknown[], traces: ToolTrace[], step: number, slotsOf: (t: ToolTrace) => Record<string, string>): Binding | string {
  let common: Map<string, Binding> | null = null;
  traces.forEach((t, i) => {
    const here = new Map(explain(values[i], t, step, slotsOf(t)).map((b) => [key(b), b]));
    common = common === null ? here : new Map([...common].filter(([k]) => here.has(k)));
  });
  const found = [...(common ?? new Map<string, Binding>()).values()];
  if (found.length) return found[0]!; // slots before results; within each, query order
  const first = JSON.stringify(values[0]);
  if (values.every((v) => JSON.stringify(v) === first)) return { from: 'const', value: values[0] };
  // A learnt slot: a string argument that is a word of its query, the same word always giving the same value.
  const vocabulary: Record<string, unknown> = {};
  for (let i = 0; i < traces.length; i++) {
    const v = values[i];
    const w = typeof v === 'string' ? v.toLowerCase() : undefined;
    if (w === undefined || !queryWords(traces[i]!.query).includes(w)) return 'comes from no slot, earlier result, word of the query or constant';
    if (Object.hasOwn(vocabulary, w) && vocabulary[w] !== v) return `the word "${w}" gives different values`;
    vocabulary[w] = v;
  }
  return { from: 'word', vocabulary };
}

/** The trace's shape: tool names, argument names and where each argument comes from in this trace alone. */
export function shapeOf(trace: ToolTrace): string {
  const slots = slotsOfQuery(trace.query);
  return trace.calls
    .map((c, i) => {
      const args = Object.keys(c.args)
        .sort()
        .map((k) => {
          const b = explain(c.args[k], trace, i, slots)[0];
          return `${k}=${b ? (b.from === 'slot' ? `slot:${b.slot}` : `result:${(b as { step: number }).step}.${(b as { path: ResultPath }).path.join('.')}`) : 'literal'}`;
        });
      return `${c.tool}(${args.join(',')})`;
    })
    .join(' > ');
}

/** The answer as a template over slots and results (`{{id}}`, `{{step0.status}}`); literal text escaped. */
export function answerTemplate(trace: ToolTrace, slots: Record<string, string>): string {
  const subs: Array<{ text: string; expr: string }> = [];
  const seen = new Set<string>();
  const add = (text: string, expr: string) => {
    if (text.length < 2 || seen.has(text)) return;
    seen.add(text);
    subs.push({ text, expr });
  };
  for (const [name, v] of Object.entries(slots)) add(v, name);
  trace.calls.forEach((c, i) => {
    for (const l of leaves(c.result)) if (typeof l.value === 'string' || typeof l.value === 'number') add(String(l.value), templatePath(i, l.path));
  });
  subs.sort((a, b) => b.text.length - a.text.length);
  // Replace whole tokens only (a value is never matched inside a longer word or number), longest first.
  const parts: Array<string | { expr: string }> = [trace.answer];
  for (const s of subs) {
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${s.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`, 'gu');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p !== 'string') continue;
      const pieces = p.split(re);
      if (pieces.length === 1) continue;
      const out: Array<string | { expr: string }> = [];
      pieces.forEach((piece, j) => {
        if (j) out.push({ expr: s.expr });
        out.push(piece);
      });
      parts.splice(i, 1, ...out);
      i += out.length - 1;
    }
  }
  return parts.map((p) => (typeof p === 'string' ? escapeLiteral(p) : `{{${p.expr}}}`)).join('');
}

export interface InduceOptions {
  /** Fewest training traces a variant (one branch) needs. */
  minSupport: number;
}

export const DEFAULT_INDUCE: InduceOptions = { minSupport: 3 };

export interface Induced {
  script: ToolScript | null;
  /** Training traces per branch, and why variants were left out. */
  support: number[];
  reasons: string[];
}

interface Variant {
  tools: string[];
  answer: string;
  traces: ToolTrace[];
}

/** Induces one script from the training traces of a query cluster. */
export function induceScript(traces: ToolTrace[], opts: InduceOptions = DEFAULT_INDUCE): Induced {
  const reasons: string[] = [];
  const slotCache = new Map<ToolTrace, Record<string, string>>();
  const slotsOf = (t: ToolTrace) => slotCache.get(t) ?? slotCache.set(t, slotsOfQuery(t.query)).get(t)!;
  const groups = new Map<string, Variant>();
  for (const t of traces) {
    const answer = answerTemplate(t, slotsOf(t));
    const k = `${shapeOf(t)}\n${answer}`;
    const g = groups.get(k) ?? { tools: t.calls.map((c) => c.tool), answer, traces: [] };
    g.traces.push(t);
    groups.set(k, g);
  }
  const variants = [...groups.values()].sort((a, b) => b.traces.length - a.traces.length);
  const kept = variants.filter((v) => v.traces.length >= opts.minSupport);
  const dropped = variants.length - kept.length;
  if (dropped) reasons.push(`${dropped} trace variant(s) below ${opts.minSupport} traces left to the frontier`);
  if (!kept.length) return { script: null, support: [], reasons: [...reasons, 'no trace variant is repeated often enough'] };

  // The common prefix: tool names (and argument names) all kept variants share.
  const argNames = (t: ToolTrace, i: number) => Object.keys(t.calls[i]!.args).sort().join(',');
  let prefix = Math.min(...kept.map((v) => v.tools.length));
  for (let i = 0; i < prefix; i++) {
    const sig = `${kept[0]!.tools[i]}(${argNames(kept[0]!.traces[0]!, i)})`;
    if (!kept.every((v) => `${v.tools[i]}(${argNames(v.traces[0]!, i)})` === sig)) prefix = i;
  }
  const all = kept.flatMap((v) => v.traces);
  const stepsFor = (ts: ToolTrace[], from: number, to: number): ToolStep[] | string => {
    const steps: ToolStep[] = [];
    for (let i = from; i < to; i++) {
      const args: Record<string, Binding> = {};
      for (const k of Object.keys(ts[0]!.calls[i]!.args).sort()) {
        const b = induceBinding(
          ts.map((t) => t.calls[i]!.args[k]),
          ts,
          i,
          slotsOf,
        );
        if (typeof b === 'string') return `step ${i} (${ts[0]!.calls[i]!.tool}) argument ${k} ${b}`;
        args[k] = b;
      }
      steps.push({ tool: ts[0]!.calls[i]!.tool, args });
    }
    return steps;
  };
  const prefixSteps = stepsFor(all, 0, prefix);
  if (typeof prefixSteps === 'string') return { script: null, support: [], reasons: [...reasons, prefixSteps] };

  let conditions: Condition[][] = kept.map(() => []);
  if (kept.length > 1) {
    const c = discriminate(kept, prefix);
    if (!c) {
      reasons.push(`${kept.length - 1} variant(s) differ from the largest with no result field telling them apart: only the largest kept`);
      kept.splice(1);
      conditions = [[]];
    } else conditions = c;
  }
  const branches: ToolScriptBranch[] = [];
  const support: number[] = [];
  const branchTraces: ToolTrace[][] = [];
  for (let b = 0; b < kept.length; b++) {
    const v = kept[b]!;
    const steps = stepsFor(v.traces, prefix, v.tools.length);
    if (typeof steps === 'string') {
      reasons.push(`branch ${b}: ${steps}`);
      continue;
    }
    branches.push({ when: conditions[b]!, steps, answer: v.answer, reads: [] });
    support.push(v.traces.length);
    branchTraces.push(v.traces);
  }
  if (!branches.length) return { script: null, support: [], reasons };
  const script: ToolScript = { kind: 'toolscript', steps: prefixSteps, branches, reads: [] };
  attachReads(script, all, branchTraces);
  return { script, support, reasons };
}

/**
 * Conditions telling the variants apart: one categorical scalar field of the prefix results (few values per variant,
 * none shared between variants, e.g. an order status) — an id is disjoint too, but would never generalise. The field
 * with the fewest values wins; each variant's condition is the values its traces showed.
 */
function discriminate(variants: Variant[], prefix: number): Condition[][] | null {
  const first = variants[0]!.traces[0]!;
  let best: { conditions: Condition[][]; values: number } | null = null;
  for (let s = 0; s < prefix; s++) {
    for (const l of leaves(first.calls[s]!.result)) {
      const sets = variants.map((v) => new Set(v.traces.map((t) => JSON.stringify(getPath(t.calls[s]!.result, l.path)))));
      if (sets.some((set) => [...set].some((x) => x === undefined))) continue;
      if (sets.some((set, i) => set.size > Math.max(1, Math.floor(variants[i]!.traces.length / 3)))) continue;
      const disjoint = sets.every((a, i) => sets.every((b, j) => i === j || [...a].every((x) => !b.has(x))));
      const values = sets.reduce((n, set) => n + set.size, 0);
      if (disjoint && (!best || values < best.values))
        best = { values, conditions: sets.map((set) => [{ step: s, path: l.path, in: [...set].map((x) => JSON.parse(x) as unknown) }]) };
    }
  }
  return best?.conditions ?? null;
}

/**
 * Records what the traces showed of each result: every scalar field present in all of them, with its JSON type, and
 * for a categorical field (few distinct values over many traces, e.g. an order status) the values seen. A result
 * outside that — a field missing, another type, a status never seen — is a case the traces did not cover.
 */
function attachReads(script: ToolScript, traces: ToolTrace[], byBranch: ToolTrace[][]): void {
  const observe = (ts: ToolTrace[], from: number, to: number): ResultRead[] => {
    const out: ResultRead[] = [];
    for (let step = from; step < to; step++) {
      for (const l of leaves(ts[0]!.calls[step]!.result)) {
        const vals = ts.map((t) => getPath(t.calls[step]!.result, l.path));
        const type = jsonType(l.value);
        if (vals.some((v) => v === undefined || jsonType(v) !== type)) continue;
        const distinct = [...new Set(vals.map((v) => JSON.stringify(v)))];
        const categorical = ts.length >= 6 && distinct.length <= Math.min(8, Math.floor(ts.length / 3)) && type !== 'number';
        out.push({ step, path: l.path, type, ...(categorical ? { values: distinct.map((d) => JSON.parse(d) as unknown) } : {}) });
      }
    }
    return out;
  };
  script.reads = observe(traces, 0, script.steps.length);
  script.branches.forEach((b, i) => {
    const ts = byBranch[i]!;
    b.reads = observe(ts, script.steps.length, script.steps.length + b.steps.length);
  });
}
