import path from 'node:path';
import type { Command } from 'commander';
import { openBlobStore } from '../blob';
import { loadConfig } from '../config';
import { createEmbedder } from '../embeddings';
import { InputError } from '../errors';
import { Router } from '../router';
import type { RunResolution } from '../router/router';
import type { ToolRegistry } from '../serving/toolscript';
import { stubTools } from '../toolscripts/stub-world';
import type { S3SourceOptions } from '../router/s3';

/**
 * `distillery route "query" --manifest <source>`: resolves one query the way a router would, with the configured
 * embedder (EMBEDDING_*) and, for s3:// and blob: sources, the configured blob store (S3_* or the embedded one).
 * DISTILLERY_MANIFEST_HMAC_KEY, when set, makes signatures required, as the publisher signs with it.
 */
export function registerRouteCommands(program: Command): void {
  program
    .command('route <query>')
    .description('resolve one query with a published manifest: the tier that serves it and its answer, adapter or model')
    .option('--manifest <source>', 'manifest or pointer: file path, http(s):// URL, s3://bucket/key, or blob:<key> in the configured blob store')
    .option('--tenant <id>', 'shorthand for --manifest blob:manifests/<id>/current.json (the pointer the publisher writes)')
    .option('--json', 'print the resolution as JSON')
    .option('--tools <module>', 'tool-script routes: run them against the tools this JS/TS module exports (`tools` or default: {name: (args) => result})')
    .option('--stub-tools', 'tool-script routes: run them against the stub order system (src/toolscripts/stub-world.ts), to try one out')
    .action(async (query: string, o: { manifest?: string; tenant?: string; json?: boolean; tools?: string; stubTools?: boolean }) => {
      const source = o.manifest ?? (o.tenant ? `blob:manifests/${o.tenant}/current.json` : undefined);
      if (!source)
        throw new InputError(
          '--manifest',
          'name the manifest: a file, http(s) URL, s3://bucket/key or blob:<key> (or --tenant <id> for the published pointer)',
        );
      const config = loadConfig();
      const blobStore = openBlobStore(config.blob);
      const s3: S3SourceOptions | undefined =
        config.blob.kind === 's3'
          ? { region: config.blob.region, endpoint: config.blob.endpoint, forcePathStyle: config.blob.forcePathStyle, credentials: config.blob.credentials }
          : undefined;
      const embedder = await createEmbedder(config.embeddings);
      try {
        let router: Router;
        try {
          router = await Router.create({ source, embedder, blobStore, s3, hmacKey: config.manifest.hmacKey });
        } catch (err) {
          // Bad manifests name their field already; unreadable sources and model mismatches become one clear line.
          if (err instanceof InputError) throw new InputError('--manifest', err.message);
          throw new InputError('--manifest', err instanceof Error ? err.message : String(err));
        }
        const tools = await toolsOf(o);
        const t0 = performance.now();
        const r: RunResolution = tools ? await router.run(query, { tools }) : await router.resolve(query);
        const ms = performance.now() - t0;
        const s = router.serving;
        if (o.json) {
          console.log(
            JSON.stringify(
              {
                ...r,
                similarity: Number.isNaN(r.similarity) ? null : r.similarity,
                manifest: { tenant: s.tenant, version: s.version, contentHash: s.contentHash, location: s.location },
              },
              null,
              2,
            ),
          );
          return;
        }
        console.log(format(r, router));
        console.log(`manifest  ${s.tenant} v${s.version} (${s.routes} routes) from ${s.location}`);
        console.log(`time      ${ms.toFixed(1)} ms (normalise + embed with ${embedder.id} + resolve)`);
      } finally {
        await embedder.close?.();
      }
    });
}

/** The application's tools for `--tools <module>` (its `tools` or default export), or the stubs for `--stub-tools`. */
async function toolsOf(o: { tools?: string; stubTools?: boolean }): Promise<ToolRegistry | undefined> {
  if (o.stubTools) return stubTools();
  if (!o.tools) return undefined;
  let mod: { tools?: unknown; default?: unknown };
  try {
    mod = (await import(path.resolve(o.tools))) as typeof mod;
  } catch (err) {
    throw new InputError('--tools', `cannot load ${o.tools}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const reg = mod.tools ?? mod.default;
  if (!reg || typeof reg !== 'object') throw new InputError('--tools', `${o.tools} must export \`tools\` (or a default export): {name: (args) => result}`);
  return reg as ToolRegistry;
}

function format(r: RunResolution, router: Router): string {
  const route = (id: string | null) => (id ? router.manifest.routes.find((x) => x.id === id) : undefined);
  const taken = route(r.routeId);
  const nearest = route(r.nearestRouteId);
  const sim = Number.isNaN(r.similarity) ? '-' : r.similarity.toFixed(3);
  const lines = [`tier      ${r.tier}${r.routeId ? '' : ' (fallback)'}`];
  if (taken) lines.push(`route     ${taken.id}  "${taken.label}"  similarity ${sim} (threshold ${taken.recognise.threshold})`);
  else if (nearest) lines.push(`nearest   ${nearest.id}  "${nearest.label}"  similarity ${sim} (threshold ${nearest.recognise.threshold})`);
  for (const c of r.toolCalls ?? []) lines.push(`tool      ${c.tool}(${JSON.stringify(c.args)}) → ${JSON.stringify(c.result ?? null).slice(0, 200)}`);
  if (r.toolScript && !r.toolCalls) lines.push('script    a tool script: pass --tools <module> (or --stub-tools) to run it');
  if (r.answer !== undefined) lines.push(`answer    ${r.answer}`);
  if (r.adapter) lines.push(`adapter   ${r.adapter.adapter} on ${r.adapter.baseModel} (${r.adapter.uri})`);
  if (r.model) lines.push(`model     ${r.model}`);
  lines.push(`reason    ${r.reason}`);
  return lines.join('\n');
}
