import type { FastifyRequest } from 'fastify';
import { InputError } from '../errors';
import { hashKey } from '../tenants/store';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of the request's API key; set by the auth hook on every /v1 route. */
    tenantId: string;
  }
}

export interface KeyCacheOptions {
  /** How long a resolved key is trusted without asking the database again (a revoked key works this long at most). */
  ttlMs?: number;
  /** Bound on cached keys; the oldest entry goes first. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * API key → tenant, cached in memory so the hot path does no database lookup after a key's first use. Only positive
 * answers are cached (an unknown key is asked again, so a newly issued key works at once). Concurrent first lookups
 * of the same key share one query. Entries are keyed by the key's SHA-256, so raw keys are not kept in memory.
 */
export class TenantKeyCache {
  private readonly entries = new Map<string, { tenantId: string; expires: number }>();
  private readonly pending = new Map<string, Promise<string | undefined>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly lookup: (key: string) => Promise<string | undefined>,
    opts: KeyCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async tenantFor(key: string): Promise<string | undefined> {
    const h = hashKey(key);
    const hit = this.entries.get(h);
    if (hit) {
      if (hit.expires > this.now()) return hit.tenantId;
      this.entries.delete(h);
    }
    let p = this.pending.get(h);
    if (!p) {
      p = this.lookup(key)
        .then((tenantId) => {
          if (tenantId !== undefined) this.remember(h, tenantId);
          return tenantId;
        })
        .finally(() => this.pending.delete(h));
      this.pending.set(h, p);
    }
    return p;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  private remember(h: string, tenantId: string): void {
    this.entries.delete(h);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(h, { tenantId, expires: this.now() + this.ttlMs });
  }
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The API key of an `Authorization: Bearer <key>` header; throws a 401 InputError naming `authorization`. */
export function bearerKey(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new InputError('authorization', 'missing API key: send the header "Authorization: Bearer <api key>"', 401);
  }
  const m = BEARER.exec(header);
  if (!m) throw new InputError('authorization', 'malformed header: expected "Authorization: Bearer <api key>"', 401);
  return m[1]!;
}

/** onRequest hook: resolves the tenant before the body is read, so unauthenticated requests cost no parsing. */
export function authHook(cache: TenantKeyCache) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const key = bearerKey(request.headers.authorization);
    const tenantId = await cache.tenantFor(key);
    if (tenantId === undefined) throw new InputError('authorization', 'unknown or revoked API key', 401);
    request.tenantId = tenantId;
  };
}
