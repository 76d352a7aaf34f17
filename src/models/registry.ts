import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { REPO_ROOT, TRAINER_DIR, runTrainerScript } from '../distill/python';
import { InputError } from '../errors';

/**
 * Base models as named, digested artefacts: scripts/trainer/add_base_model.py turns a packaged model (a PyPI wheel
 * carrying a GGUF) into a save_pretrained folder under the models directory and records it in
 * `<models dir>/base-models.json`, which this module reads (scripts/trainer/base_models.py reads it on the Python side).
 * Jobs and adapters name a base by `name` and pin it by `digest`; the folder path is this machine's business only.
 */
export const ADD_BASE_MODEL_SCRIPT = path.join(TRAINER_DIR, 'add_base_model.py');
export const REGISTRY_FILE = 'base-models.json';
/** The base `models add` and setup default to, and the student benchmark and tests train. */
export const DEFAULT_BASE_MODEL = 'smollm2-135m-instruct';
/** Names add_base_model.py knows how to build (its BASES table). */
export const KNOWN_BASE_MODELS = [DEFAULT_BASE_MODEL] as const;

const entrySchema = z.object({
  name: z.string(),
  source: z.string(),
  sourceSha256: z.string().optional(),
  upstream: z.string().optional(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  path: z.string(),
  addedAt: z.string(),
});
export type BaseModelEntry = z.infer<typeof entrySchema>;
const registrySchema = z.object({ models: z.record(z.string(), entrySchema) });

/** DISTILLERY_MODELS_DIR, else the repository's models/ (where setup puts them). */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.DISTILLERY_MODELS_DIR ?? path.join(REPO_ROOT, 'models'));
}

export function listBaseModels(dir = modelsDir()): BaseModelEntry[] {
  const file = path.join(dir, REGISTRY_FILE);
  if (!existsSync(file)) return [];
  const parsed = registrySchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a base-model registry: ${parsed.error.issues[0]?.message}`);
  return Object.values(parsed.data.models).sort((a, b) => a.name.localeCompare(b.name));
}

/** A registered base: its entry and the folder it is in on this machine. */
export interface ResolvedBase {
  name: string;
  digest?: string;
  folder: string;
}

/**
 * What `--base-model` names: a registered name (its folder and digest), or any local save_pretrained folder (named
 * after the registry entry it is, else after its folder; no digest). Anything else is an InputError.
 */
export function resolveBaseModel(value: string, dir = modelsDir()): ResolvedBase {
  const entry = listBaseModels(dir).find((e) => e.name === value);
  if (entry) return { name: entry.name, digest: entry.digest, folder: path.join(dir, entry.path) };
  if (existsSync(value) && statSync(value).isDirectory()) {
    const folder = path.resolve(value);
    const own = listBaseModels(path.dirname(folder)).find((e) => e.path === path.basename(folder));
    return own ? { name: own.name, digest: own.digest, folder } : { name: path.basename(folder), folder };
  }
  throw new InputError('--base-model', `"${value}" is neither a registered base model (${registeredHint(dir)}) nor a local model folder`);
}

function registeredHint(dir: string): string {
  const names = listBaseModels(dir).map((e) => e.name);
  return names.length ? `registered: ${names.join(', ')}` : `none registered in ${dir}; run \`distillery models add ${DEFAULT_BASE_MODEL}\``;
}

/** Builds (or finds, when already there with the same digest) a known base model in `dir`. */
export async function addBaseModel(name: string, dir = modelsDir()): Promise<BaseModelEntry> {
  if (!(KNOWN_BASE_MODELS as readonly string[]).includes(name)) {
    throw new InputError('name', `unknown base model "${name}"; known: ${KNOWN_BASE_MODELS.join(', ')}`);
  }
  const run = await runTrainerScript<BaseModelEntry>(ADD_BASE_MODEL_SCRIPT, [name, '--models-dir', dir]).done;
  const entry = run.events.at(-1);
  if (run.code !== 0 || !entry) throw new Error(`add_base_model.py failed (exit ${run.code}): ${run.stderr.slice(-600)}`);
  return entrySchema.parse(entry);
}
