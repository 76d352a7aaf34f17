import { normalizeQuery } from '../serving/normalize';
import type { Embedder } from '../embeddings/types';
import type { Manifest } from '../serving/manifest';
import type { NearestIndexOptions, NearestIndexStats } from '../serving/nearest';
import { type CompiledManifest, type RouteResolution, compileManifest, resolveCompiled } from '../serving/resolver';
import { namedSlots } from '../serving/slots';
import { type ScriptCall, type ToolRegistry, runToolScript } from '../serving/toolscript';
import {
  type LoadManifestOptions,
  type Location,
  type ManifestPointer,
  checkManifest,
  describeLocation,
  followPointer,
  parseDocument,
  parseLocation,
  readDocument,
  yieldToEventLoop,
} from './source';

/**
 * The router client: holds the manifest in service, resolves queries against it, and keeps it current.
 *
 *   const router = await Router.create({ source: 's3://bucket/manifests/acme/current.json', embedder, refreshMs: 30_000 });
 *   const r = await router.resolve('where is my order 12345?');   // { tier: 'template', answer: 'Order 12345 …', … }
 *
 * Refresh rules: a pointer source is re-read every `refreshMs`; when it names another version or content hash, that
 * manifest is loaded, checked (schema, content hash, signature, the pointer's version and hash, same tenant, same
 * embedding model) and swapped in atomically. A pointer naming an EARLIER version is a rollback and is followed. A
 * direct manifest source (no pointer) only ever moves forward: a lower version there is refused. Whatever goes wrong
 * (unreachable source, bad hash, invalid manifest), the manifest in service stays in service and `onError` hears.
 */

export interface RouterOptions extends LoadManifestOptions {
  /** File path, http(s) URL, s3://bucket/key or blob:<key>; a manifest or a pointer to one. */
  source: string;
  /** Must be the embedding model the manifest names (`embedding.model` is the embedder's id). */
  embedder: Embedder;
  /** Re-read the source this often (ms); 0 or absent: only when refresh() is called. */
  refreshMs?: number;
  /** Refresh failures (the previous manifest stays in service). */
  onError?: (err: Error) => void;
  /** A new manifest went into service. */
  onChange?: (change: { from: number; to: number; kind: 'update' | 'rollback'; location: string }) => void;
  index?: NearestIndexOptions;
  /**
   * The application's tools, by the names its tool schemas give them: tool-script routes call these (run()).
   * Each takes the parsed arguments and returns the result (JSON value, or JSON text as a tool message carries).
   */
  tools?: ToolRegistry;
  /** A tool call of a tool script that takes longer hands the conversation to the frontier. Default 10 s. */
  toolTimeoutMs?: number;
}

/** A resolution after run(): a tool-script route's answer and the calls it made (also when it handed over). */
export interface RunResolution extends RouteResolution {
  toolCalls?: ScriptCall[];
}

export type RefreshResult =
  | { status: 'unchanged'; version: number }
  | { status: 'updated' | 'rolled-back'; version: number; from: number }
  | { status: 'failed'; version: number; error: Error };

interface ServingState {
  compiled: CompiledManifest;
  pointer: ManifestPointer | null;
  /** sha256 of the source document last seen: an unchanged pointer or manifest is not parsed again. */
  digest: string;
  location: string;
  loadedAt: Date;
}

export class Router {
  private state!: ServingState;
  private timer: NodeJS.Timeout | null = null;
  private inflight: Promise<RefreshResult> | null = null;
  private readonly location: Location;

  private constructor(private readonly opts: RouterOptions) {
    this.location = parseLocation(opts.source);
  }

  /** Loads the manifest (throws when it cannot: there is nothing to serve yet) and starts the refresh timer. */
  static async create(opts: RouterOptions): Promise<Router> {
    const router = new Router(opts);
    const raw = await readDocument(router.location, opts);
    const doc = parseDocument(raw);
    const loaded =
      doc.kind === 'pointer'
        ? { ...(await followPointer(raw.location, doc.pointer, opts)), pointer: doc.pointer }
        : { manifest: await checkManifest(doc.value, describeLocation(raw.location), opts), location: describeLocation(raw.location), pointer: null };
    router.state = router.prepare(loaded.manifest, loaded.pointer, raw.digest, loaded.location);
    if (opts.refreshMs && opts.refreshMs > 0) {
      router.timer = setInterval(() => void router.refresh(), opts.refreshMs);
      router.timer.unref();
    }
    return router;
  }

  get manifest(): Manifest {
    return this.state.compiled.manifest;
  }

  get version(): number {
    return this.state.compiled.manifest.version;
  }

  /** Where the manifest in service was read, when, and through which pointer. */
  get serving(): {
    tenant: string;
    version: number;
    contentHash: string;
    location: string;
    pointer: ManifestPointer | null;
    loadedAt: Date;
    routes: number;
    kernel: string;
  } {
    const s = this.state;
    const m = s.compiled.manifest;
    return {
      tenant: m.tenant,
      version: m.version,
      contentHash: m.contentHash,
      location: s.location,
      pointer: s.pointer,
      loadedAt: s.loadedAt,
      routes: m.routes.length,
      kernel: s.compiled.index.kernel,
    };
  }

  get indexStats(): NearestIndexStats {
    return this.state.compiled.index.stats;
  }

  /** Normalises the query as the pipeline does, embeds the masked text, and resolves it. */
  async resolve(query: string): Promise<RouteResolution> {
    const n = normalizeQuery(query);
    const [vector] = await this.opts.embedder.embed([n.text]);
    if (!vector) throw new Error(`embedder ${this.opts.embedder.id} returned no vector`);
    return resolveCompiled(this.state.compiled, vector, query, n);
  }

  /**
   * Resolves the query and, on a tool-script route, runs the script against the registered tools: the answer comes
   * back on the template tier with the calls made. A script that cannot finish (a result outside what its traces
   * covered, a tool missing or failing) hands over: the fallback's model, with the calls so far and the reason.
   */
  async run(query: string, opts: { tools?: ToolRegistry } = {}): Promise<RunResolution> {
    const n = normalizeQuery(query);
    const [vector] = await this.opts.embedder.embed([n.text]);
    if (!vector) throw new Error(`embedder ${this.opts.embedder.id} returned no vector`);
    const res = resolveCompiled(this.state.compiled, vector, query, n);
    if (!res.toolScript) return res;
    const m = this.state.compiled.manifest;
    const out = await runToolScript(res.toolScript.toolScript, { query, slots: namedSlots(n.slots) }, opts.tools ?? this.opts.tools ?? {}, {
      toolTimeoutMs: this.opts.toolTimeoutMs ?? 10_000,
    });
    if (out.status === 'answered') return { ...res, answer: out.answer, toolCalls: out.calls };
    const { toolScript: _omit, ...rest } = res;
    return { ...rest, tier: m.fallback.tier, routeId: null, model: m.fallback.model, toolCalls: out.calls, reason: `tool script handed over: ${out.reason}` };
  }

  /**
   * Resolves an already embedded query: `vector` must be the embedding of normalizeQuery(query).text with the
   * manifest's embedding model. Synchronous.
   */
  resolveVector(vector: ArrayLike<number>, query: string): RouteResolution {
    return resolveCompiled(this.state.compiled, vector, query);
  }

  /** Re-reads the source and swaps in a changed manifest; never throws (failures keep the manifest in service). */
  refresh(): Promise<RefreshResult> {
    this.inflight ??= this.doRefresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  /** Stops the refresh timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async doRefresh(): Promise<RefreshResult> {
    const cur = this.state;
    const from = cur.compiled.manifest;
    try {
      const raw = await readDocument(this.location, this.opts);
      if (raw.digest === cur.digest) return { status: 'unchanged', version: from.version };
      const doc = parseDocument(raw);
      let next: { manifest: Manifest; location: string; pointer: ManifestPointer | null };
      if (doc.kind === 'pointer') {
        const p = doc.pointer;
        if (p.version === from.version && p.contentHash === from.contentHash) {
          this.state = { ...cur, digest: raw.digest, pointer: p };
          return { status: 'unchanged', version: from.version };
        }
        if (p.version === from.version) {
          throw new Error(
            `${describeLocation(raw.location)}: the pointer names v${p.version} with content hash ${p.contentHash}, but v${p.version} in service has ${from.contentHash}; a published version never changes, so this is refused`,
          );
        }
        next = { ...(await followPointer(raw.location, p, this.opts)), pointer: p };
      } else {
        const where = describeLocation(raw.location);
        const manifest = await checkManifest(doc.value, where, this.opts);
        if (manifest.version === from.version && manifest.contentHash === from.contentHash) {
          this.state = { ...cur, digest: raw.digest };
          return { status: 'unchanged', version: from.version };
        }
        if (manifest.version <= from.version) {
          throw new Error(
            `${where}: holds v${manifest.version}${manifest.version === from.version ? ' with different content than' : ', older than'} v${from.version} in service; refused (a direct manifest source only moves forward: roll back by pointing a pointer at the earlier version)`,
          );
        }
        next = { manifest, location: where, pointer: null };
      }
      if (next.manifest.tenant !== from.tenant)
        throw new Error(`${next.location}: is for tenant "${next.manifest.tenant}", this router serves "${from.tenant}"; refused`);
      await yieldToEventLoop();
      this.state = this.prepare(next.manifest, next.pointer, raw.digest, next.location);
      const kind = next.manifest.version > from.version ? 'update' : 'rollback';
      this.opts.onChange?.({ from: from.version, to: next.manifest.version, kind, location: next.location });
      return { status: kind === 'update' ? 'updated' : 'rolled-back', version: next.manifest.version, from: from.version };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      try {
        this.opts.onError?.(error);
      } catch {
        // A throwing error handler must not take the router down.
      }
      return { status: 'failed', version: from.version, error };
    }
  }

  /** Checks the manifest against the embedder and compiles it for serving. */
  private prepare(manifest: Manifest, pointer: ManifestPointer | null, digest: string, location: string): ServingState {
    const e = this.opts.embedder;
    if (manifest.embedding.model !== e.id) {
      throw new Error(
        `${location}: the manifest's routes were embedded with "${manifest.embedding.model}" but this router embeds queries with "${e.id}"; configure the router with the manifest's embedding model (EMBEDDING_PROVIDER / EMBEDDING_MODEL)`,
      );
    }
    if (e.dims > 0 && manifest.embedding.dims !== e.dims) {
      throw new Error(`${location}: the manifest has ${manifest.embedding.dims}-dimensional centroids but the embedder "${e.id}" gives ${e.dims} dimensions`);
    }
    return { compiled: compileManifest(manifest, { index: this.opts.index }), pointer, digest, location, loadedAt: new Date() };
  }
}
