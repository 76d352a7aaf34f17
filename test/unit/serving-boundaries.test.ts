import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The seams of the serving core, checked on the source: the router is deployable alone (and shared with a gateway),
 * so it and src/serving must not pull in the pipeline, and the pipeline must reach the serving logic through
 * src/serving, never through the router. A regex over import specifiers is enough: every import in this code base
 * is a static `import … from '…'`, `export … from '…'` or `import('…')` with a literal path.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Import specifiers of a source text: `from '…'`, bare `import '…'`, and dynamic `import('…')`. */
function specifiersOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm)) out.push(m[2]!);
  return out;
}

function filesUnder(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(path.join(ROOT, p)).isDirectory() ? filesUnder(p) : p.endsWith('.ts') ? [p] : [];
  });
}

type Target = { kind: 'package'; name: string } | { kind: 'file'; path: string };

/** Where a specifier of `file` points: a package (or node built-in), or a repo-relative file path. */
function resolve(file: string, spec: string): Target {
  if (!spec.startsWith('.')) return { kind: 'package', name: spec };
  const base = path.normalize(path.join(path.dirname(file), spec));
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(path.join(ROOT, candidate)) && statSync(path.join(ROOT, candidate)).isFile()) return { kind: 'file', path: candidate };
  }
  throw new Error(`${file}: import '${spec}' resolves to no file`);
}

function importsOf(file: string): Array<{ spec: string; target: Target }> {
  return specifiersOf(readFileSync(path.join(ROOT, file), 'utf8')).map((spec) => ({ spec, target: resolve(file, spec) }));
}

const inside = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`) || p === `${dir}.ts`;

/** The imports of `files` that land outside `allowed` (packages and node built-ins are always allowed). */
function violations(files: string[], allowed: string[]): string[] {
  return files.flatMap((f) =>
    importsOf(f)
      .filter(({ target }) => target.kind === 'file' && !allowed.some((dir) => inside(target.path, dir)))
      .map(({ spec }) => `${f} imports '${spec}'`),
  );
}

/** What the router (and anything of its own deployable closure) may depend on besides packages. */
const ROUTER_MAY_USE = ['src/router', 'src/serving', 'src/embeddings/types', 'src/blob', 'src/errors'];
const SERVING_MAY_USE = ['src/serving', 'src/embeddings/types', 'src/blob', 'src/errors'];
/** The pipeline: it depends on src/serving, never on the router. */
const PIPELINE = [
  'src/clustering',
  'src/graduation',
  'src/manifest',
  'src/distill',
  'src/ingest',
  'src/interactions',
  'src/retrain',
  'activities',
  'workflows',
];

describe('serving boundaries', () => {
  it('reads every kind of import the code base uses', () => {
    const text = [
      "import { a } from './a';",
      "import type { B } from '../b';",
      'import {\n  c,\n  d,\n} from "./c";',
      "export { e } from './e';",
      "import './side-effect';",
      "  const { f } = await import('./f');",
      "import x from 'node:fs';",
    ].join('\n');
    expect(specifiersOf(text)).toEqual(['./a', '../b', './c', './e', './side-effect', './f', 'node:fs']);
  });

  it('finds the files it checks (a moved folder must not silently empty the check)', () => {
    expect(filesUnder('src/router')).toContain('src/router/router.ts');
    expect(filesUnder('src/serving')).toEqual(expect.arrayContaining(['src/serving/normalize.ts', 'src/serving/resolver.ts', 'src/serving/manifest.ts']));
    for (const dir of ['src/manifest', 'src/graduation', 'src/clustering']) expect(filesUnder(dir).length).toBeGreaterThan(0);
  });

  it('the router imports only src/serving, the Embedder types, the blob store, errors, node built-ins and packages', () => {
    expect(violations(filesUnder('src/router'), ROUTER_MAY_USE)).toEqual([]);
  });

  it('src/serving imports nothing of the pipeline, the router, the database, the API or the CLI', () => {
    expect(violations(filesUnder('src/serving'), SERVING_MAY_USE)).toEqual([]);
  });

  it('the pipeline (manifest, graduation, clustering, …) never imports the router', () => {
    const offenders = PIPELINE.flatMap(filesUnder).flatMap((f) =>
      importsOf(f)
        .filter(({ target }) => target.kind === 'file' && inside(target.path, 'src/router'))
        .map(({ spec }) => `${f} imports '${spec}'`),
    );
    expect(offenders).toEqual([]);
  });

  it('everything the router client loads, followed transitively from src/router/index.ts, stays in its allowed set', () => {
    const seen = new Set<string>();
    const stack = ['src/router/index.ts'];
    while (stack.length) {
      const f = stack.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      if (!f.endsWith('.ts')) continue; // the manifest JSON Schema
      for (const { target } of importsOf(f)) if (target.kind === 'file') stack.push(target.path);
    }
    expect(seen.has('src/serving/resolver.ts')).toBe(true); // the walk really follows imports
    expect([...seen].filter((f) => !ROUTER_MAY_USE.some((dir) => inside(f, dir)))).toEqual([]);
  });
});
