import type { Db } from '../db/client';
import type { Embedder } from '../embeddings/types';
import { insertInteractions } from '../interactions/store';
import { type InteractionRow, normalizeRecord } from '../interactions/record';
import type { Judge } from '../judge/types';
import { type Prices, callCost } from '../manifest/replay';
import { loadPrices } from '../manifest/store';
import { DEFAULT_BUDGET, type ErrorBudget } from '../promotion/budget';
import { type LoadManifestOptions, Router } from '../router';
import type { RouteResolution } from '../serving/resolver';
import type { Manifest, TierName } from '../serving/manifest';
import { activeTierEntry, putTierEntry } from '../tiers/store';
import { shadowJudge } from './judge';
import { DEFAULT_RAMP, type Ramp, entryKey, liveCheck, rampShare, unitHash } from './live';
import { GatewayMetrics } from './metrics';
import { type ShadowStatsRow, type UsageDelta, addJudgement, addUsage, loadShadowStats, markDemoted } from './store';
import { type ModelTier, Upstreams } from './upstream';
import { answerText } from './completion';
import { Batcher } from './batcher';
import { QueryEmbedder } from './query-embedder';

/**
 * The gateway's state and decisions, apart from HTTP (server.ts): each tenant's manifest in service (a Router kept
 * current from the tenant's pointer), which tier serves a request, the shadow checks that watch the cheaper tiers,
 * the demotion that follows when a route leaves the budget, and the savings ledger.
 */

export interface GatewayOptions {
  db: Db;
  /** The manifests' embedding model (the router refuses a manifest embedded with another). */
  embedder: Embedder;
  upstreams: Upstreams;
  /** The source a tenant's manifest is read from (usually its pointer), e.g. `blob:manifests/acme/current.json`. */
  manifestSource: (tenantId: string) => string;
  load: LoadManifestOptions;
  /** Re-read each pointer this often (ms). */
  refreshMs: number;
  /** Share of cheaper-tier requests also answered by the teacher and judged, once a tier entry is past its ramp. */
  shadowRate: number;
  ramp?: Ramp;
  budget?: ErrorBudget;
  /** Starts a publish of the tenant's manifest (after a demotion): the Temporal publisher in production. */
  publish?: (tenantId: string, runId: string) => Promise<unknown>;
  /** Pauses before the retries of a failed publish after a demotion (default 5 s, 30 s, 2 min). */
  publishRetryMs?: number[];
  /** Most shadow checks in flight; a sampled request beyond it is not shadowed (counted as skipped). Default 16. */
  maxShadowsInFlight?: number;
  /** Let a leading system/developer message go down the ladder. */
  allowSystem: boolean;
  random?: () => number;
  log?: (level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>) => void;
  /** Flush the savings ledger this often (ms). */
  flushMs?: number;
  /** Masked query texts whose vectors are kept (default 10,000; 0 = none). */
  embedCacheSize?: number;
}

export interface Decision {
  tier: TierName;
  routeId: string | null;
  manifestVersion: number | null;
  reason: string;
  /** The manifest's decision, when it was asked. */
  resolution?: RouteResolution;
  /** The route entry a cheaper tier serves (for shadow stats), and whether this request is shadowed. */
  entry?: string;
  shadow: boolean;
}

interface TenantState {
  router: Router;
  judge: { version: number; judge: Judge };
  stats: Map<string, ShadowStatsRow>;
}

const statKey = (routeId: string, entry: string) => `${routeId}\u0000${entry}`;
const NO_MANIFEST_RETRY_MS = 10_000;
const PRICES_TTL_MS = 60_000;
/** How long a teacher answer waits to be written with others (feedback naming it writes it at once). */
const LOG_BATCH_MS = 100;
const LOG_BATCH_MAX = 500;

/** A teacher answer waiting to be logged: normalised only when its batch is written, off the request's path. */
interface PendingLog {
  tenantId: string;
  request: Record<string, unknown>;
  response: Record<string, unknown>;
  key: string;
  meta: Record<string, unknown>;
  latencyMs: number;
  /** When the answer came (the interaction's time, however late its batch is written). */
  at: Date;
}

/** Lets waiting I/O (new requests, answers) run before more background work: shadow checks yield between steps. */
const yieldToIo = () => new Promise<void>((r) => setImmediate(r));

export class Gateway {
  readonly metrics = new GatewayMetrics();
  private readonly tenants = new Map<string, Promise<TenantState | null>>();
  private readonly failedAt = new Map<string, number>();
  private readonly ledger = new Map<string, UsageDelta>();
  private readonly background = new Set<Promise<unknown>>();
  private prices: { at: number; p: Promise<Prices> } | null = null;
  private readonly logs: Batcher<PendingLog>;
  private shadowsInFlight = 0;
  private readonly timer: NodeJS.Timeout;
  readonly ramp: Ramp;
  readonly budget: ErrorBudget;
  private readonly random: () => number;
  /** Queries are embedded through a cache and coalesced into batches (query-embedder.ts). */
  readonly queryEmbedder: QueryEmbedder;

  constructor(readonly opts: GatewayOptions) {
    this.queryEmbedder = new QueryEmbedder(opts.embedder, { cacheSize: opts.embedCacheSize ?? 10_000, maxBatch: 64 });
    this.ramp = opts.ramp ?? DEFAULT_RAMP;
    this.budget = opts.budget ?? DEFAULT_BUDGET;
    this.random = opts.random ?? Math.random;
    this.logs = new Batcher<PendingLog>({
      write: (items) => this.writeLogs(items),
      maxWaitMs: LOG_BATCH_MS,
      maxBatch: LOG_BATCH_MAX,
      onError: (err, rows, lost) =>
        this.log('error', lost ? 'teacher answers not logged (given up at shutdown)' : 'teacher answers not logged yet; will retry', {
          rows,
          error: err instanceof Error ? err.message : String(err),
        }),
    });
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? 5_000);
    this.timer.unref();
  }

  get upstreams(): Upstreams {
    return this.opts.upstreams;
  }

  /** The tenant's manifest in service, or null when it has none yet (asked again after a pause). */
  async manifest(tenantId: string): Promise<Manifest | null> {
    return (await this.state(tenantId))?.router.manifest ?? null;
  }

  private state(tenantId: string): Promise<TenantState | null> {
    const failed = this.failedAt.get(tenantId);
    if (failed !== undefined && Date.now() - failed > NO_MANIFEST_RETRY_MS) {
      this.tenants.delete(tenantId);
      this.failedAt.delete(tenantId);
    }
    let s = this.tenants.get(tenantId);
    if (!s) {
      s = this.open(tenantId).catch((err: unknown) => {
        this.failedAt.set(tenantId, Date.now());
        this.log('warn', 'no manifest to serve: the frontier serves every request', { tenant: tenantId, error: (err as Error).message });
        return null;
      });
      this.tenants.set(tenantId, s);
    }
    return s;
  }

  private async open(tenantId: string): Promise<TenantState> {
    const router = await Router.create({
      ...this.opts.load,
      source: this.opts.manifestSource(tenantId),
      embedder: this.queryEmbedder,
      refreshMs: this.opts.refreshMs,
      onError: (err) => this.log('warn', 'manifest refresh failed; the manifest in service stays', { tenant: tenantId, error: err.message }),
      onChange: (c) => this.log('info', 'manifest changed', { tenant: tenantId, ...c }),
    });
    const stats = new Map((await loadShadowStats(this.opts.db, tenantId)).map((r) => [statKey(r.routeId, r.entry), r]));
    return { router, stats, judge: { version: router.version, judge: shadowJudge(router.manifest, (t) => this.opts.embedder.embed(t)) } };
  }

  private judgeOf(s: TenantState): Judge {
    if (s.judge.version !== s.router.version)
      s.judge = { version: s.router.version, judge: shadowJudge(s.router.manifest, (t) => this.opts.embedder.embed(t)) };
    return s.judge.judge;
  }

  /** Re-reads the tenant's pointer now (after a publish). */
  async refresh(tenantId: string): Promise<void> {
    const s = await this.state(tenantId);
    if (s) await s.router.refresh();
    else {
      this.tenants.delete(tenantId);
      this.failedAt.delete(tenantId);
    }
  }

  /**
   * Which tier serves a request. `query` is the single user turn when the request may go down the ladder, else null
   * (it goes to the frontier with `ineligible` as the reason).
   */
  async decide(tenantId: string, requestId: string, query: string | null, ineligible: string, forced: boolean): Promise<Decision> {
    if (forced) return { tier: 'frontier', routeId: null, manifestVersion: null, reason: 'forced to the teacher by the request', shadow: false };
    const s = await this.state(tenantId);
    if (!s) return { tier: 'frontier', routeId: null, manifestVersion: null, reason: 'no manifest published for the tenant', shadow: false };
    const version = s.router.version;
    if (query === null) return { tier: 'frontier', routeId: null, manifestVersion: version, reason: ineligible, shadow: false };
    const r = await s.router.resolve(query);
    const base = { routeId: r.routeId, manifestVersion: s.router.version, resolution: r };
    if (r.routeId === null || r.tier === 'frontier') return { ...base, tier: r.tier, reason: r.reason, shadow: false };
    const route = s.router.manifest.routes.find((x) => x.id === r.routeId)!;
    const entry = entryKey(route);
    const st = s.stats.get(statKey(route.id, entry));
    if (st?.demotedAt) return { ...base, tier: 'frontier', reason: 'demoted by shadow checks (a publish follows)', entry, shadow: false };
    const ramp = rampShare(this.ramp, st ?? { judged: 0, errors: 0 });
    if (unitHash(requestId) >= ramp.share)
      return {
        ...base,
        tier: 'frontier',
        reason: `ramp: the ${r.tier} tier serves ${Math.round(100 * ramp.share)}% of the route so far`,
        entry,
        shadow: false,
      };
    return { ...base, tier: r.tier, reason: r.reason, entry, shadow: ramp.ramping || this.random() < this.opts.shadowRate };
  }

  /** The model to send to a model tier for a request (the app's own model goes to the frontier). */
  modelFor(tier: ModelTier, d: Decision, requested: string, manifest: Manifest | null): string {
    if (tier === 'frontier') return requested;
    if (tier === 'adapter') return d.resolution?.adapter?.adapter ?? requested;
    return (d.tier === 'cheap' ? d.resolution?.model : undefined) ?? manifest?.models.cheap ?? requested;
  }

  /** Runs work after the answer went out (logging, judging); errors are logged, never thrown at a caller. */
  later(what: string, fn: () => Promise<unknown>): void {
    const p = new Promise((r) => setImmediate(r))
      .then(fn)
      .catch((err: unknown) => this.log('error', `${what} failed`, { error: err instanceof Error ? err.message : String(err) }))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** Waits for the background work started so far (feedback right after an answer; tests; shutdown). */
  async settle(): Promise<void> {
    do {
      await Promise.allSettled([...this.background]);
      await this.logs.flush();
    } while (this.background.size);
  }

  /**
   * Logs a teacher answer as an interaction (idempotent on the response id), so retraining learns from it. Queued at
   * once (feedback sent right after the answer finds it) and normalised and written in batches (one INSERT per
   * tenant per batch), after the answer went out; a failed write is retried. The promise settles when its row is
   * written, or rejects when the record cannot be stored.
   */
  logInteraction(
    tenantId: string,
    request: Record<string, unknown>,
    response: Record<string, unknown>,
    key: string,
    meta: Record<string, unknown>,
    latencyMs: number,
  ): Promise<void> {
    return this.logs.add({ tenantId, request, response, key, meta, latencyMs, at: new Date() });
  }

  /** Writes the teacher answers waiting now and waits for those being written (feedback may name one). */
  async settleLogs(): Promise<void> {
    await this.logs.flush();
  }

  /** One batch of teacher answers: a record that cannot be stored fails alone; a database error fails the batch (retried). */
  private async writeLogs(items: PendingLog[]): Promise<Array<Error | null>> {
    const errors: Array<Error | null> = items.map(() => null);
    const byTenant = new Map<string, InteractionRow[]>();
    for (const [i, it] of items.entries()) {
      // A record takes ~0.25 ms to validate and hash: one at a time, so a batch never holds up a request for long.
      if (i > 0) await yieldToIo();
      try {
        const row = normalizeRecord(
          { request: it.request, response: it.response, idempotency_key: it.key, latency_ms: Math.round(it.latencyMs), metadata: { gateway: it.meta } },
          { now: it.at },
          '',
        );
        const rows = byTenant.get(it.tenantId);
        if (rows) rows.push(row);
        else byTenant.set(it.tenantId, [row]);
      } catch (err) {
        errors[i] = err instanceof Error ? err : new Error(String(err));
        this.log('warn', 'teacher answer not loggable as an interaction', { tenant: it.tenantId, error: errors[i]!.message });
      }
    }
    // Tenants already written are written again on a retry: the insert is idempotent on the response id.
    for (const [tenantId, rows] of byTenant) await insertInteractions(this.opts.db, tenantId, 'gateway', rows);
    return errors;
  }

  /** The shadow check of one cheaper-tier answer: ask the teacher, judge, count, and demote when the budget is refuted. */
  async shadow(tenantId: string, d: Decision, body: Record<string, unknown>, query: string, served: string): Promise<void> {
    if (this.shadowsInFlight >= (this.opts.maxShadowsInFlight ?? 16)) {
      this.metrics.shadowSkipped(tenantId);
      return;
    }
    this.shadowsInFlight++;
    try {
      await this.shadowNow(tenantId, d, body, query, served);
    } finally {
      this.shadowsInFlight--;
    }
  }

  private async shadowNow(tenantId: string, d: Decision, body: Record<string, unknown>, query: string, served: string): Promise<void> {
    const s = await this.state(tenantId);
    if (!s || !d.routeId || !d.entry) return;
    const t0 = performance.now();
    const teacher = await this.opts.upstreams.complete('frontier', { ...body, stream: false, stream_options: undefined });
    // The teacher's answer arrived with other I/O perhaps waiting (requests being served): let that go first.
    await yieldToIo();
    const reference = answerText(teacher);
    const id = typeof teacher.id === 'string' && teacher.id ? teacher.id : `shadow-${Date.now()}-${Math.floor(this.random() * 1e9)}`;
    // Queued with the other teacher answers; the judgement need not wait for its write.
    void this.logInteraction(
      tenantId,
      { ...body, stream: undefined, stream_options: undefined },
      teacher,
      `response:${id}`,
      { tier: 'frontier', shadowOf: d.tier, route: d.routeId, manifestVersion: d.manifestVersion },
      performance.now() - t0,
    ).catch((err: unknown) => this.log('warn', 'shadow answer not logged', { error: (err as Error).message }));
    const judge = this.judgeOf(s);
    const [j] = await judge.judge([{ query, candidate: served, reference }]);
    await yieldToIo();
    const agreed = j!.verdict === 'agree';
    const k = { tenantId, routeId: d.routeId, entry: d.entry, tier: d.tier };
    const row = await addJudgement(
      this.opts.db,
      k,
      agreed,
      agreed ? undefined : { at: new Date().toISOString(), query, served, teacher: reference, pAgree: j!.pAgree, judge: judge.id, evidence: j!.evidence },
    );
    s.stats.set(statKey(d.routeId, d.entry), row);
    const check = liveCheck(row, this.budget);
    this.metrics.judged(tenantId, d.routeId, j!.verdict, 1 - check.rate, check.upperBound);
    if (check.demote && !row.demotedAt) await this.demote(s, tenantId, d, row, check, judge.id);
  }

  private async demote(s: TenantState, tenantId: string, d: Decision, row: ShadowStatsRow, check: ReturnType<typeof liveCheck>, judgeId: string) {
    const k = { tenantId, routeId: d.routeId!, entry: d.entry! };
    if (!(await markDemoted(this.opts.db, k))) return; // another gateway demoted it
    s.stats.set(statKey(k.routeId, k.entry), { ...row, demotedAt: new Date() });
    this.metrics.demoted(tenantId, k.routeId);
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
    const reason =
      `shadow checks: ${check.errors} of ${check.judged} answers disagreed with the teacher; the live error rate is above ` +
      `${pct(check.lowerBound)} at ${pct(check.budget.confidence)} confidence, outside the budget of ${pct(check.budget.maxErrorRate)}`;
    const active = await activeTierEntry(this.opts.db, tenantId, k.routeId);
    // Demote only what is served: a route whose tier entry changed since this manifest keeps its newer entry.
    if (active && active.tier === d.tier) {
      const manifest = s.router.manifest;
      await this.opts.db.transaction((tx) =>
        putTierEntry(tx as unknown as Db, {
          tenantId,
          routeId: k.routeId,
          tier: 'frontier',
          target: { model: manifest.models.frontier },
          evidence: {
            reason,
            setBy: 'gateway',
            demotedFrom: { tier: d.tier, entry: k.entry, manifestVersion: d.manifestVersion },
            judge: judgeId,
            judged: check.judged,
            errors: check.errors,
            rate: check.rate,
            lowerBound: check.lowerBound,
            upperBound: check.upperBound,
            budget: check.budget,
            examples: row.examples,
          },
        }),
      );
    }
    this.log('warn', 'route demoted to the frontier', { tenant: tenantId, route: k.routeId, entry: k.entry, reason });
    if (this.opts.publish) await this.publishAfterDemotion(s, tenantId, `gateway-demotion:${k.routeId}:${k.entry}`);
  }

  /**
   * The publish that carries a demotion. Retried a few times with a pause (another publish of the tenant may be
   * running: the publisher is one workflow per tenant); until it succeeds the gateway keeps the route on the
   * frontier itself, and any later publish carries the demotion too.
   */
  private async publishAfterDemotion(s: TenantState, tenantId: string, runId: string): Promise<void> {
    const pauses = this.opts.publishRetryMs ?? [5_000, 30_000, 120_000];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.opts.publish!(tenantId, runId);
        await s.router.refresh();
        return;
      } catch (err) {
        if (attempt >= pauses.length) throw err;
        this.log('warn', 'publish after a demotion failed; retrying', { tenant: tenantId, runId, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, pauses[attempt]));
      }
    }
  }

  /** Books one served request in the savings ledger (flushed to Postgres every few seconds). */
  async book(tenantId: string, routeId: string | null, tier: TierName, promptTokens: number, completionTokens: number): Promise<void> {
    const prices = await this.loadPrices();
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const key = `${tenantId}\u0000${hour.getTime()}\u0000${routeId ?? ''}\u0000${tier}`;
    let e = this.ledger.get(key);
    if (!e) {
      e = { tenantId, hour, routeId: routeId ?? '', tier, requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, frontierCostUsd: 0 };
      this.ledger.set(key, e);
    }
    const tokens = { promptTokens, completionTokens };
    e.requests++;
    e.promptTokens += promptTokens;
    e.completionTokens += completionTokens;
    e.costUsd += callCost(prices[tier], tokens);
    e.frontierCostUsd += callCost(prices.frontier, tokens);
  }

  private loadPrices(): Promise<Prices> {
    if (!this.prices || Date.now() - this.prices.at > PRICES_TTL_MS) {
      const p = loadPrices(this.opts.db);
      p.catch(() => (this.prices = null));
      this.prices = { at: Date.now(), p };
    }
    return this.prices.p;
  }

  async flush(): Promise<void> {
    const deltas = [...this.ledger.values()];
    this.ledger.clear();
    try {
      await addUsage(this.opts.db, deltas);
    } catch (err) {
      // Put them back: the next flush tries again.
      for (const d of deltas) {
        const key = `${d.tenantId}\u0000${d.hour.getTime()}\u0000${d.routeId}\u0000${d.tier}`;
        const e = this.ledger.get(key);
        if (!e) this.ledger.set(key, d);
        else for (const f of ['requests', 'promptTokens', 'completionTokens', 'costUsd', 'frontierCostUsd'] as const) e[f] += d[f];
      }
      this.log('warn', 'savings ledger not written; will retry', { error: (err as Error).message });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.settle();
    await this.logs.close();
    // The savings ledger: a failed write is tried again a few times before the process goes.
    for (let i = 0; i < 3; i++) {
      await this.flush();
      if (!this.ledger.size) break;
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
    for (const s of this.tenants.values()) (await s)?.router.close();
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>): void {
    this.opts.log?.(level, msg, data);
  }
}
