import { escapeLiteral } from '../serving/render';
import type { ScriptSpec } from '../serving/script';

/** One accepted interaction of a cluster: the query, its masked slot values by name, and the accepted answer. */
export interface Example {
  id: number;
  query: string;
  slots: Record<string, string>;
  answer: string;
  /** The teacher's answer, when a user's edit is the accepted one. */
  editedFrom?: string;
}

export type CandidateKind = 'constant' | 'template' | 'script';

export interface Proposal {
  kind: CandidateKind;
  template: string;
  script: ScriptSpec | null;
  /** Share of the training examples whose answer this proposal reproduces token for token. */
  support: number;
}

export interface InduceOptions {
  /** Least share of training answers a proposal must explain to be worth verifying. Default 0.5. */
  minSupport?: number;
  /** Most positions a script may fill from its vocabulary. Default 3. */
  maxScriptVariables?: number;
}

// Words, single punctuation marks and runs of whitespace: joining the tokens gives back the text exactly.
const TOKEN = /\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
const SLOT_MARK = '\u0001';

function tokens(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

const isSpace = (t: string) => /^\s/.test(t);

/**
 * Answers with the query's slot values replaced by slot marks, token-aligned: a value counts only where it stands as
 * whole tokens, and longer values win over shorter ones ("12345" before "123").
 */
export function abstractAnswer(answer: string, slots: Record<string, string>): string[] {
  const out = tokens(answer);
  const values = Object.entries(slots)
    .map(([name, value]) => ({ name, toks: tokens(value.trim()) }))
    .filter((v) => v.toks.length > 0 && v.toks.join('').length >= 2)
    .sort((a, b) => b.toks.length - a.toks.length || b.toks.join('').length - a.toks.join('').length);
  for (const v of values) {
    for (let i = 0; i + v.toks.length <= out.length; i++) {
      let hit = true;
      for (let j = 0; j < v.toks.length && hit; j++) hit = out[i + j] === v.toks[j];
      if (hit) out.splice(i, v.toks.length, SLOT_MARK + v.name);
    }
  }
  return out;
}

function templateOf(toks: string[], variable: Map<number, string> = new Map()): string {
  // Literal text is escaped run by run, not token by token: "{{" is two tokens, so per-token escaping misses it.
  let out = '';
  let literal = '';
  const flush = (beforeSlot: boolean) => {
    let text = escapeLiteral(literal);
    // A backslash right before a slot would escape the slot's "{{"; doubled, Handlebars reads one literal backslash.
    if (beforeSlot && text.endsWith('\\')) text += '\\';
    out += text;
    literal = '';
  };
  toks.forEach((t, i) => {
    const slot = variable.get(i) ?? (t.startsWith(SLOT_MARK) ? t.slice(1) : undefined);
    if (slot === undefined) {
      literal += t;
      return;
    }
    flush(true);
    out += `{{${slot}}}`;
  });
  flush(false);
  return out;
}

const keyOf = (toks: string[]) => toks.map((t) => (isSpace(t) ? ' ' : t)).join('');

/**
 * Candidate answers for a cluster, induced from its accepted answers, best first:
 * 1. constant / slotted template: the most common answer once slot values are abstracted (exact alignment);
 * 2. script: Drain-style alignment of same-shape answers, where the positions that vary are bound to a word of the
 *    query through a learned vocabulary.
 * Nothing here decides whether a proposal is good: verification by replay does.
 */
export function induceProposals(train: ReadonlyArray<Example>, opts: InduceOptions = {}): Proposal[] {
  const minSupport = opts.minSupport ?? 0.5;
  const maxVars = opts.maxScriptVariables ?? 3;
  const n = train.length;
  if (n === 0) return [];
  const abstracted = train.map((e) => abstractAnswer(e.answer.trim(), e.slots));
  const proposals: Proposal[] = [];

  // 1. Exact alignment.
  const groups = new Map<string, number[]>();
  abstracted.forEach((t, i) => {
    const k = keyOf(t);
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  });
  const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]!;
  if (best.length / n >= minSupport) {
    const toks = abstracted[best[0]!]!;
    const slotted = toks.some((t) => t.startsWith(SLOT_MARK));
    proposals.push({ kind: slotted ? 'template' : 'constant', template: templateOf(toks), script: null, support: best.length / n });
  }

  // 2. Drain-style: answers of the same token shape, aligned position by position.
  const byShape = new Map<string, number[]>();
  abstracted.forEach((t, i) => {
    const shape = t.map((x) => (isSpace(x) ? ' ' : '_')).join('');
    const g = byShape.get(shape);
    if (g) g.push(i);
    else byShape.set(shape, [i]);
  });
  const shapeGroup = [...byShape.values()].sort((a, b) => b.length - a.length)[0]!;
  if (shapeGroup.length / n >= minSupport && shapeGroup.length > best.length) {
    const first = abstracted[shapeGroup[0]!]!;
    const varying: number[] = [];
    for (let p = 0; p < first.length; p++) {
      if (isSpace(first[p]!)) continue;
      if (shapeGroup.some((i) => abstracted[i]![p] !== first[p])) varying.push(p);
    }
    if (varying.length > 0 && varying.length <= maxVars && varying.every((p) => !first[p]!.startsWith(SLOT_MARK))) {
      const script = learnVocabulary(
        varying,
        shapeGroup.map((i) => ({ toks: abstracted[i]!, query: train[i]!.query })),
      );
      if (script) {
        const names = new Map(varying.map((p, k) => [p, script.variables[k]!.name]));
        proposals.push({ kind: 'script', template: templateOf(first, names), script, support: shapeGroup.length / n });
      }
    }
  }
  return proposals.sort((a, b) => b.support - a.support);
}

/**
 * For each varying position, a table from query word to answer word, if the answer word (in any case) is a word of
 * the query in nearly every example: the value is then a function of the query that a reviewer can read.
 */
function learnVocabulary(positions: number[], rows: Array<{ toks: string[]; query: string }>): ScriptSpec | null {
  const variables: ScriptSpec['variables'] = [];
  for (const [k, p] of positions.entries()) {
    const votes = new Map<string, Map<string, number>>();
    let bound = 0;
    for (const r of rows) {
      const value = r.toks[p]!;
      const words = new Set(r.query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
      const key = value.toLowerCase();
      if (!words.has(key)) continue;
      bound++;
      const v = votes.get(key) ?? new Map<string, number>();
      v.set(value, (v.get(value) ?? 0) + 1);
      votes.set(key, v);
    }
    if (bound < 0.95 * rows.length || votes.size < 2) return null;
    const vocabulary: Record<string, string> = {};
    for (const [key, v] of [...votes.entries()].sort(([a], [b]) => a.localeCompare(b))) vocabulary[key] = [...v.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    variables.push({ name: `word_${k + 1}`, vocabulary });
  }
  return { kind: 'vocabulary', variables };
}
