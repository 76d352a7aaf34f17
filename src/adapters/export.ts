import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../blob';
import { InputError } from '../errors';
import { cachedAdapter } from './cache';

export const EXPORT_FORMATS = ['vllm', 'lorax'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** An adapter as the registry knows it: serving name, base, digests and where its files are in the blob store. */
export interface ExportableAdapter {
  name: string;
  baseModel: string;
  baseModelDigest?: string;
  adapterDigest: string;
  /** Blob prefix of the PEFT folder (adapters/<job id>). */
  prefix: string;
}

export interface ExportResult {
  /** Adapter folder per serving name, under outDir/adapters. */
  dirs: Record<string, string>;
  /** The mapping file and the launch script written. */
  files: string[];
}

/**
 * Writes what a production GPU engine needs to serve these adapters: each PEFT folder (fetched by digest, verified)
 * under `outDir/adapters/<name>`, and the mapping from OpenAI `model` names to them: for vLLM `lora-modules.json`
 * (the `--lora-modules` JSON entries) and `serve-vllm.sh`; for LoRAX `adapters.json` (adapter_id per name, local
 * source) and `serve-lorax.sh`. The base is passed in as BASE_MODEL_DIR (the registered base's folder: vLLM and
 * LoRAX load the same save_pretrained safetensors). All adapters must share one base.
 */
export async function exportAdapters(
  blob: BlobStore,
  adapters: readonly ExportableAdapter[],
  format: ExportFormat,
  outDir: string,
  cacheDir: string,
): Promise<ExportResult> {
  if (!adapters.length) throw new InputError('--tenant', 'no adapters to export (only candidate and active adapters trained here have files)');
  const bases = [...new Set(adapters.map((a) => a.baseModel))];
  if (bases.length > 1) throw new InputError('--base', `adapters of several bases (${bases.join(', ')}): export one base at a time with --base`);
  const base = bases[0]!;
  const dirs: Record<string, string> = {};
  let maxRank = 8;
  for (const a of adapters) {
    const src = await cachedAdapter(blob, a.prefix, a.adapterDigest, cacheDir);
    const dir = path.join(outDir, 'adapters', a.name);
    await mkdir(path.dirname(dir), { recursive: true });
    await cp(src, dir, { recursive: true, force: true });
    const cfg = JSON.parse(await readFile(path.join(dir, 'adapter_config.json'), 'utf8')) as { r?: number };
    maxRank = Math.max(maxRank, cfg.r ?? 8);
    dirs[a.name] = dir;
  }
  const files: string[] = [];
  const write = async (name: string, text: string, mode?: number) => {
    const f = path.join(outDir, name);
    await writeFile(f, text, { mode });
    files.push(f);
  };
  const rel = (name: string) => `"$HERE/adapters/${name}"`;
  const header = `#!/usr/bin/env bash\n# Serves the ${adapters.length} adapter(s) of base ${base} (digest ${adapters[0]!.baseModelDigest ?? 'unrecorded'}).\n# BASE_MODEL_DIR: that base's save_pretrained folder (e.g. models/${base}, from \`distillery models add ${base}\`).\nset -euo pipefail\nHERE="$(cd "$(dirname "$0")" && pwd)"\n: "\${BASE_MODEL_DIR:?set BASE_MODEL_DIR to the ${base} folder}"\n`;
  if (format === 'vllm') {
    const modules = adapters.map((a) => ({ name: a.name, path: `adapters/${a.name}`, base_model_name: base }));
    await write('lora-modules.json', `${JSON.stringify(modules, null, 2)}\n`);
    const flags = adapters.map(
      (a) => `  --lora-modules "{\\"name\\": \\"${a.name}\\", \\"path\\": \\"$HERE/adapters/${a.name}\\", \\"base_model_name\\": \\"${base}\\"}" \\`,
    );
    await write(
      'serve-vllm.sh',
      `${header}# OpenAI API on :8000; \`model\` = the adapter name.\nexec vllm serve "$BASE_MODEL_DIR" --served-model-name ${base} --enable-lora --max-loras ${Math.min(adapters.length, 32)} --max-lora-rank ${maxRank} \\\n${flags.join('\n')}\n  "$@"\n`,
      0o755,
    );
  } else {
    const mapping = Object.fromEntries(adapters.map((a) => [a.name, { adapter_id: `adapters/${a.name}`, adapter_source: 'local', digest: a.adapterDigest }]));
    await write('adapters.json', `${JSON.stringify({ base, adapters: mapping }, null, 2)}\n`);
    await write(
      'serve-lorax.sh',
      `${header}# LoRAX loads adapters per request: send adapter_id = ${adapters.map((a) => rel(a.name)).join(', ')} with adapter_source "local"\n# (or, on its OpenAI endpoint, model = that path). The adapters folder must be visible to the server at the same path.\nexec lorax-launcher --model-id "$BASE_MODEL_DIR" --adapter-source local --max-active-adapters ${Math.min(adapters.length, 128)} "$@"\n`,
      0o755,
    );
  }
  return { dirs, files };
}
