/**
 * Which strings Postgres can store. Its text and jsonb types refuse U+0000 and unpaired UTF-16 surrogates (a JSON
 * string such as "\ud800" parses into one in JavaScript); such a value fails the whole INSERT it travels in, so it
 * must be refused per record, by name, before any SQL. Pure, no Node imports: the workflow bundle may use it too.
 */

/** Cheap prefilter: nearly every string has neither, and this scan is on the ingest hot path. */
const SUSPECT = /[\u0000\ud800-\udfff]/;

/** What is wrong with `s` (and where), or undefined when Postgres can store it. */
export function unstorableReason(s: string): string | undefined {
  if (!SUSPECT.test(s)) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return `holds U+0000 (NUL) at character ${i}, which cannot be stored: remove it (or replace it, e.g. with U+FFFD)`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      return `holds an unpaired UTF-16 surrogate (U+${c.toString(16).toUpperCase()}) at character ${i}, which is not valid Unicode and cannot be stored: fix the text's encoding (or replace it with U+FFFD)`;
    }
  }
  return undefined;
}

export interface UnstorableString {
  /** JSON path segments to the string, or to the object whose key is at fault. */
  path: Array<string | number>;
  message: string;
}

/**
 * The first string (value or object key, at any depth) Postgres cannot store, or undefined. Stops descending at
 * `maxDepth` (deeper values are refused elsewhere; this must not overflow the stack on hostile nesting).
 */
export function findUnstorableString(value: unknown, maxDepth: number): UnstorableString | undefined {
  const path: Array<string | number> = [];
  const walk = (v: unknown, depth: number): string | undefined => {
    if (typeof v === 'string') return unstorableReason(v);
    if (typeof v !== 'object' || v === null || depth >= maxDepth) return undefined;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const m = walk(v[i], depth + 1);
        if (m) return m;
        path.pop();
      }
      return undefined;
    }
    for (const k of Object.keys(v)) {
      const keyReason = unstorableReason(k);
      if (keyReason) return `has a key ${JSON.stringify(k.slice(0, 40))} that ${keyReason}`;
      path.push(k);
      const m = walk((v as Record<string, unknown>)[k], depth + 1);
      if (m) return m;
      path.pop();
    }
    return undefined;
  };
  const message = walk(value, 0);
  return message ? { path: [...path], message } : undefined;
}

/**
 * Length in Unicode code points, as JSON Schema's maxLength counts (String.length counts UTF-16 units, so an emoji
 * would count twice and a limit the OpenAPI document states would be refused early).
 */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}
