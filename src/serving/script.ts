import { InputError } from '../errors';

/**
 * A script is a template plus a deterministic step that derives values the query does not carry verbatim. Scripts
 * are data, not code: a reviewer reads the table, the router runs it, and nothing user-edited is ever evaluated.
 * `vocabulary`: the first query word found in the table gives the value (e.g. "premium" → "Premium").
 */
export interface ScriptSpec {
  kind: 'vocabulary';
  variables: Array<{ name: string; vocabulary: Record<string, string> }>;
}

/** The fixed signature every script has: query and its slots in, named values out; throws when it cannot decide. */
export function runScript(spec: ScriptSpec, input: { query: string; slots: Record<string, string> }): Record<string, string> {
  const words = input.query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const out: Record<string, string> = {};
  for (const v of spec.variables) {
    const hit = words.find((w) => Object.hasOwn(v.vocabulary, w));
    if (hit === undefined) throw new Error(`script variable "${v.name}": no word of its vocabulary in the query`);
    out[v.name] = v.vocabulary[hit]!;
  }
  return out;
}

/** Checks a script given by a reviewer (approve with edits): shape, names and tables, with the field at fault. */
export function parseScript(value: unknown): ScriptSpec {
  const bad = (field: string, msg: string) => new InputError(`script${field}`, msg);
  if (!value || typeof value !== 'object') throw bad('', 'must be an object {kind: "vocabulary", variables: [...]}');
  const v = value as Record<string, unknown>;
  if (v.kind !== 'vocabulary') throw bad('.kind', 'must be "vocabulary"');
  if (!Array.isArray(v.variables) || v.variables.length === 0) throw bad('.variables', 'must be a non-empty array');
  return {
    kind: 'vocabulary',
    variables: v.variables.map((x, i) => {
      const o = x as Record<string, unknown>;
      if (typeof o?.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(o.name)) throw bad(`.variables[${i}].name`, 'must be an identifier');
      if (!o.vocabulary || typeof o.vocabulary !== 'object') throw bad(`.variables[${i}].vocabulary`, 'must map query words to values');
      const vocabulary: Record<string, string> = {};
      for (const [k, val] of Object.entries(o.vocabulary as Record<string, unknown>)) {
        if (typeof val !== 'string') throw bad(`.variables[${i}].vocabulary.${k}`, 'must be a string');
        vocabulary[k.toLowerCase()] = val;
      }
      return { name: o.name, vocabulary };
    }),
  };
}

/** The script as a reviewer reads it: a small module with the fixed signature. */
export function scriptSource(spec: ScriptSpec): string {
  const lines = ['export default function derive({ query }) {', '  const words = query.toLowerCase().match(/[\\p{L}\\p{N}]+/gu) ?? [];', '  return {'];
  for (const v of spec.variables) lines.push(`    ${v.name}: pick(words, ${JSON.stringify(v.vocabulary)}),`);
  lines.push('  };', '}');
  return lines.join('\n');
}
