import { type NormalizedQuery, normalizeQuery } from './normalize';
import { renderAnswer } from './render';
import { namedSlots } from './slots';
import type { AdapterTarget, Manifest, ManifestRoute, ModelTarget, Resolution, TemplateTarget } from './manifest';
import { decodeCentroid } from './manifest-validate';
import { NearestIndex, type NearestIndexOptions } from './nearest';

/**
 * The synchronous core of the router: a manifest compiled for serving (centroid index, keyword rules) and the
 * decision for one query vector. No I/O; the publisher's replay uses it too, so the replayed decisions are the ones
 * the router will make.
 *
 * Decision: the nearest route by cosine (exact, see nearest.ts) takes the query when its cosine reaches the route's
 * threshold and its keyword rules pass; otherwise the manifest's fallback does. Only the nearest route is considered
 * (the contract: "it must be the nearest route"), so a query between two routes never lands on the farther one.
 */

/** A Resolution with the nearest route named even when the fallback served (an optional addition to the contract). */
export interface RouteResolution extends Resolution {
  /** The nearest route, whether or not it took the query (null when the manifest has no routes). */
  nearestRouteId: string | null;
}

export interface CompiledManifest {
  manifest: Manifest;
  index: NearestIndex;
  /** Keyword rules per route (by row), pre-normalised; null when the route has none. */
  rules: Array<KeywordRules | null>;
}

interface KeywordRules {
  all: string[];
  none: string[];
}

export interface CompileOptions {
  index?: NearestIndexOptions;
}

/** Decodes the centroids and builds the index. The manifest must be valid (validateManifest). */
export function compileManifest(manifest: Manifest, opts: CompileOptions = {}): CompiledManifest {
  const dims = manifest.embedding.dims;
  const n = manifest.routes.length;
  const matrix = new Float32Array(n * dims);
  manifest.routes.forEach((r, i) => {
    const v = decodeCentroid(r.recognise.centroid);
    if (v.length !== dims) throw new Error(`routes[${i}].recognise.centroid: ${v.length} values, embedding.dims is ${dims}`);
    matrix.set(v, i * dims);
  });
  return {
    manifest,
    index: NearestIndex.build(matrix, n, dims, opts.index),
    rules: manifest.routes.map((r) => compileRules(r.recognise.keywords)),
  };
}

/** `(vector, query) => Resolution` for one manifest (compiled once): what the publisher's replay calls. */
export function resolverFor(manifest: Manifest, opts: CompileOptions = {}): (vector: Float32Array, query: string) => RouteResolution {
  const compiled = compileManifest(manifest, opts);
  return (vector, query) => resolveCompiled(compiled, vector, query);
}

/**
 * Where one query goes. `vector` is the embedding of the query's normalised, masked text; `normalized` is that
 * normalisation when the caller has it (computed here otherwise, only if a rule or a template needs it).
 */
export function resolveCompiled(c: CompiledManifest, vector: ArrayLike<number>, query: string, normalized?: NormalizedQuery): RouteResolution {
  const m = c.manifest;
  const hit = c.index.nearest(vector);
  if (!hit) return fallback(m, null, Number.NaN, m.routes.length ? 'query vector is zero' : 'no routes');
  const route = m.routes[hit.index]!;
  const sim = hit.similarity;
  if (!(sim >= route.recognise.threshold)) return fallback(m, route.id, sim, 'below threshold');
  const rules = c.rules[hit.index];
  let n = normalized;
  if (rules) {
    n ??= normalizeQuery(query);
    const failed = keywordFailure(rules, n.text);
    if (failed) return fallback(m, route.id, sim, `keyword rule: ${failed}`);
  }
  switch (route.tier) {
    case 'template': {
      // A tool-script route: the answer needs the application's tools, so the caller runs it (Router.run).
      if ('toolScript' in route.target)
        return { tier: 'template', routeId: route.id, nearestRouteId: route.id, similarity: sim, toolScript: route.target, reason: 'route' };
      const t = route.target as TemplateTarget;
      n ??= normalizeQuery(query);
      let answer: string;
      try {
        answer = renderAnswer(t.template, { query, slots: namedSlots(n.slots) }, t.script);
      } catch (err) {
        return fallback(m, route.id, sim, `render failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      return { tier: 'template', routeId: route.id, nearestRouteId: route.id, similarity: sim, answer, reason: 'route' };
    }
    case 'adapter':
      return { tier: 'adapter', routeId: route.id, nearestRouteId: route.id, similarity: sim, adapter: route.target as AdapterTarget, reason: 'route' };
    case 'cheap':
    case 'frontier':
      return { tier: route.tier, routeId: route.id, nearestRouteId: route.id, similarity: sim, model: modelOf(m, route), reason: 'route' };
  }
}

function modelOf(m: Manifest, route: ManifestRoute): string {
  const model = (route.target as ModelTarget).model;
  return model || m.models[route.tier as 'cheap' | 'frontier'];
}

function fallback(m: Manifest, nearest: string | null, similarity: number, reason: string): RouteResolution {
  return { tier: m.fallback.tier, routeId: null, nearestRouteId: nearest, similarity, model: m.fallback.model, reason };
}

/**
 * Keywords are matched on the normalised query (lower-cased, values masked: `<id>` is a keyword like any other) as
 * whole words: a keyword occurs where neither neighbour is a letter or digit. Keywords are compared after the same
 * case and Unicode folding (NFKC, lower case, single spaces), so "Refund" matches "refund" and "refund request"
 * matches across the words.
 */
function compileRules(k: ManifestRoute['recognise']['keywords']): KeywordRules | null {
  const all = (k?.all ?? []).map(foldKeyword).filter((w) => w !== '');
  const none = (k?.none ?? []).map(foldKeyword).filter((w) => w !== '');
  return all.length || none.length ? { all, none } : null;
}

function foldKeyword(w: string): string {
  return w.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Why the rules reject the text, or null when they pass. */
function keywordFailure(rules: KeywordRules, text: string): string | null {
  for (const w of rules.all) if (!containsWord(text, w)) return `needs "${w}"`;
  for (const w of rules.none) if (containsWord(text, w)) return `excludes "${w}"`;
  return null;
}

const WORD_CHAR = /[\p{L}\p{N}]/u;

export function containsWord(text: string, word: string): boolean {
  for (let at = text.indexOf(word); at >= 0; at = text.indexOf(word, at + 1)) {
    const before = at > 0 ? text[at - 1]! : '';
    const after = text[at + word.length] ?? '';
    if ((!before || !WORD_CHAR.test(before) || !WORD_CHAR.test(word[0]!)) && (!after || !WORD_CHAR.test(after) || !WORD_CHAR.test(word[word.length - 1]!)))
      return true;
  }
  return false;
}
