import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layering the design asks for, checked on the real import graph (type-only imports included: a type import
// still couples two modules). Layers, bottom up: src/ (domain logic, stores, serving core) ← activities/ and
// workflows/ ← app/ (the composition root and the processes it builds). Nothing imports upwards, and no module
// imports itself through a circle.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LAYERS = ['src', 'activities', 'workflows', 'app'] as const;

function sourceFiles(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const name of readdirSync(abs)) {
    const p = path.join(abs, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'migrations') out.push(...sourceFiles(path.join(dir, name)));
    } else if (name.endsWith('.ts')) out.push(path.join(dir, name));
  }
  return out;
}

const IMPORT_RE = /(?:^|\n)\s*(import type|export type|import|export)\s[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g;

function resolveImport(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.normalize(path.join(path.dirname(from), spec));
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (candidate.endsWith('.ts') && existsSync(path.join(ROOT, candidate))) return candidate;
  }
  return undefined;
}

/** file → the files it imports; `typeOnly` holds the edges that are `import type` (erased at run time). */
export function importGraph(): { graph: Map<string, string[]>; typeOnly: Set<string> } {
  const graph = new Map<string, string[]>();
  const typeOnly = new Set<string>();
  for (const file of LAYERS.flatMap((l) => sourceFiles(l))) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT_RE)) {
      const target = resolveImport(file, m[2] ?? m[3]!);
      if (!target) continue;
      deps.push(target);
      if (m[1]?.endsWith('type')) typeOnly.add(`${file} -> ${target}`);
    }
    graph.set(file, deps);
  }
  return { graph, typeOnly };
}

/** Every circle in the graph, each as the list of files around it (Tarjan's strongly connected components). */
export function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** The packages (non-relative specifiers, builtins included) a file imports at run time. */
function packagesOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[2] ?? m[3]!;
    if (spec.startsWith('.') || m[1]?.endsWith('type')) continue;
    out.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return out;
}

const layerOf = (file: string) => file.split(path.sep)[0] as (typeof LAYERS)[number];

describe('architecture', () => {
  const { graph, typeOnly } = importGraph();

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });

  it('finds a circle when there is one (the check itself works)', () => {
    const g = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(circles(g)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
  });

  it('never imports upwards: src/ imports nothing from workflows/, activities/ or app/', () => {
    const upward = [...graph].flatMap(([file, deps]) =>
      layerOf(file) === 'src' ? deps.filter((d) => layerOf(d) !== 'src').map((d) => `${file} -> ${d}`) : [],
    );
    expect(upward).toEqual([]);
  });

  it('keeps workflows/ deterministic: what they load at run time reaches no I/O package', () => {
    // Workflow code runs in Temporal's sandbox and is replayed: everything it loads (type imports are erased) must be
    // pure. So the run-time closure of every workflow may use only these packages.
    const PURE_PACKAGES = new Set(['@temporalio/workflow', '@temporalio/common']);
    const seen = new Set<string>();
    const todo = [...graph.keys()].filter((f) => layerOf(f) === 'workflows');
    const bad: string[] = [];
    while (todo.length) {
      const file = todo.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const pkg of packagesOf(file)) if (!PURE_PACKAGES.has(pkg)) bad.push(`${file} uses ${pkg}`);
      for (const d of graph.get(file) ?? []) if (!typeOnly.has(`${file} -> ${d}`)) todo.push(d);
    }
    expect(bad).toEqual([]);
  });

  it('only workflows/ imports workflows/', () => {
    const outside = [...graph].flatMap(([file, deps]) =>
      layerOf(file) !== 'workflows' ? deps.filter((d) => layerOf(d) === 'workflows').map((d) => `${file} -> ${d}`) : [],
    );
    expect(outside).toEqual([]);
  });
});
