import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { InputError } from '../errors';
import schema from './manifest.schema.json';
import type { Manifest } from './manifest';

/**
 * Manifest validation: the published JSON Schema (manifest.schema.json, draft 2020-12, checked by ajv: a schema
 * validator is not something to write by hand) and then what a schema cannot say: previousVersion below version,
 * unique route ids, and centroids that decode to `embedding.dims` finite Float32 values of unit length.
 */

export const manifestSchema = schema;

/** An invalid manifest; `problems` holds one `path: message` line per problem (`routes[3].recognise.threshold: …`). */
export class ManifestValidationError extends InputError {
  constructor(readonly problems: string[]) {
    const shown = problems.slice(0, MAX_SHOWN);
    const more = problems.length > MAX_SHOWN ? `\n  … and ${problems.length - MAX_SHOWN} more` : '';
    super('manifest', `invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${shown.join('\n  ')}${more}`);
  }
}

const MAX_SHOWN = 25;
/** Largest deviation from unit length a centroid may have (Float32 rounding of a normalised vector is ~1e-7). */
const UNIT_TOLERANCE = 1e-3;

// Compiled once, at module load. allErrors: a publisher gets every problem at once, not one per attempt.
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv, ['date-time']);
// Standard base64 with padding: decoding and re-encoding gives the same text (Buffer's decoder is lenient, so this
// rejects URL-safe characters, whitespace and bad padding). Native speed: a pattern costs ~100 ms on 10k centroids.
ajv.addFormat('base64', { type: 'string', validate: (s: string) => s.length % 4 === 0 && Buffer.from(s, 'base64').toString('base64') === s });
const check = ajv.compile<Manifest>(schema);

/** Returns the value typed as a Manifest, or throws ManifestValidationError listing every problem. */
export function validateManifest(value: unknown): Manifest {
  const problems = manifestProblems(value);
  if (problems.length) throw new ManifestValidationError(problems);
  return value as Manifest;
}

/** Every problem of a would-be manifest as `path: message` lines; empty when it is valid. */
export function manifestProblems(value: unknown): string[] {
  if (!check(value)) return schemaProblems(check.errors ?? [], value);
  return semanticProblems(value);
}

function schemaProblems(errors: ReadonlyArray<ErrorObject>, value: unknown): string[] {
  const out: string[] = [];
  for (const e of errors) {
    const line = describe(e, value);
    if (line !== null && !out.includes(line)) out.push(line);
  }
  // "does not fit tier" only where the target carries another kind's fields; a target merely missing a field is
  // explained by its "is required" lines.
  return out.filter((l) => {
    const m = /^(routes\[\d+\]\.target): does not fit tier/.exec(l);
    return !m || out.some((o) => o.startsWith(`${m[1]}.`) && o.endsWith(': is not allowed here'));
  });
}

/** Turns an ajv error into a `path: message` line, or null for noise that another line already explains. */
function describe(e: ErrorObject, root: unknown): string | null {
  const at = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${join(at, String(p.missingProperty))}: is required`;
    case 'additionalProperties':
      return `${join(at, String(p.additionalProperty))}: is not allowed here`;
    case 'if': {
      // A route whose target does not fit its tier: say which target shape the tier needs.
      const tier = (at.match(/^routes\[(\d+)\]$/) ? pick(root, e.instancePath)?.tier : undefined) as string | undefined;
      const need = tier === 'template' ? '{template, script, candidateId, version}' : tier === 'adapter' ? '{adapter, baseModel, uri}' : '{model}';
      return `${join(at, 'target')}: does not fit tier "${tier}", which needs a target ${need}`;
    }
    case 'enum':
      return `${at}: must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `${at}: must be ${JSON.stringify(p.allowedValue)}`;
    case 'pattern':
      return `${at}: must match ${String(p.pattern)}`;
    case 'format':
      if (p.format === 'base64') return `${at}: must be standard base64 with padding (Float32 little-endian values)`;
      return `${at}: must be a ${String(p.format)} string (ISO 8601, e.g. 2026-11-01T00:00:00Z)`;
    case 'minLength':
      return p.limit === 1 ? `${at}: must not be empty` : `${at}: ${e.message}`;
    case 'type':
      return `${at}: must be ${String(p.type).replace(',', ' or ')}`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

function semanticProblems(m: Manifest): string[] {
  const out: string[] = [];
  if (m.previousVersion !== null && m.previousVersion >= m.version) {
    out.push(`previousVersion: must be below version (${m.previousVersion} >= ${m.version})`);
  }
  const seen = new Map<string, number>();
  const bytes = m.embedding.dims * 4;
  m.routes.forEach((r, i) => {
    const first = seen.get(r.id);
    if (first !== undefined) out.push(`routes[${i}].id: "${r.id}" is also the id of routes[${first}]; route ids must be unique`);
    else seen.set(r.id, i);
    const problem = centroidProblem(r.recognise.centroid, m.embedding.dims, bytes);
    if (problem) out.push(`routes[${i}].recognise.centroid: ${problem}`);
  });
  return out;
}

function centroidProblem(b64: string, dims: number, bytes: number): string | null {
  const v = decodeCentroid(b64);
  if (v.length * 4 !== bytes) return `decodes to ${Buffer.byteLength(b64, 'base64')} bytes; embedding.dims ${dims} needs ${bytes} (Float32 little-endian)`;
  let s = 0;
  for (let i = 0; i < dims; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return `value ${i} is ${x}`;
    s += x * x;
  }
  const norm = Math.sqrt(s);
  if (Math.abs(norm - 1) > UNIT_TOLERANCE) return `must have unit length (its length is ${norm.toPrecision(4)})`;
  return null;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A centroid's values (Float32 little-endian in base64). A trailing partial value is dropped, so callers compare
 * `length * 4` with the size they expect.
 */
export function decodeCentroid(b64: string): Float32Array {
  const buf = Buffer.from(b64, 'base64');
  const n = Math.floor(buf.length / 4);
  if (LITTLE_ENDIAN) return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n * 4));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** `/routes/0/recognise/threshold` → `routes[0].recognise.threshold` */
function pointerToPath(pointer: string): string {
  if (!pointer) return '(manifest)';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

function join(at: string, key: string): string {
  return at === '(manifest)' ? key : `${at}.${key}`;
}

function pick(root: unknown, pointer: string): Record<string, unknown> | undefined {
  let v: unknown = root;
  for (const part of pointer.slice(1).split('/')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
}
