import type { FastifyRequest } from 'fastify';
import { InputError, UnauthenticatedError } from '../errors';
import { type Scope, hasScope, missingScopeError } from '../keys/scopes';
import { type KeyIdentity, hashKey } from '../keys/store';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of the request's API key; set by the auth hook on every /v1 route. */
    tenantId: string;
    /** The request's key: its name (the reviewer of its decisions) and scopes; set with tenantId. */
    apiKey: KeyIdentity;
  }
  interface FastifyContextConfig {
    /** The scope a /v1 route needs (src/keys/scopes.ts), or 'any' valid key; a route without one is admin-only. */
    scope?: Scope | 'any';
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
 * API key → its identity (tenant, name, scopes), cached in memory so the hot path does no database lookup after a key's first use. Only positive
 * answers are cached (an unknown key is asked again, so a newly issued key works at once). Concurrent first lookups
 * of the same key share one query. Entries are keyed by the key's SHA-256, so raw keys are not kept in memory.
 */
export class TenantKeyCache<T = KeyIdentity> {
  private readonly entries = new Map<string, { value: T; expires: number }>();
  private readonly pending = new Map<string, Promise<T | undefined>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly lookup: (key: string) => Promise<T | undefined>,
    opts: KeyCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  async identify(key: string): Promise<T | undefined> {
    const h = hashKey(key);
    const hit = this.entries.get(h);
    if (hit) {
      if (hit.expires > this.now()) return hit.value;
      this.entries.delete(h);
    }
    let p = this.pending.get(h);
    if (!p) {
      p = this.lookup(key)
        .then((value) => {
          if (value !== undefined) this.remember(h, value);
          return value;
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

  private remember(h: string, value: T): void {
    this.entries.delete(h);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(h, { value, expires: this.now() + this.ttlMs });
  }
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The API key of an `Authorization: Bearer <key>` header; throws a 401 InputError naming `authorization`. */
export function bearerKey(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new UnauthenticatedError('authorization', 'missing API key: send the header "Authorization: Bearer <api key>"');
  }
  const m = BEARER.exec(header);
  if (!m) throw new UnauthenticatedError('authorization', 'malformed header: expected "Authorization: Bearer <api key>"');
  return m[1]!;
}

/**
 * onRequest hook: resolves the key before the body is read, so unauthenticated requests cost no parsing, then checks
 * the route's scope (`config.scope`): 401 for a missing, unknown or revoked key, 403 naming the missing scope.
 */
export function authHook(cache: TenantKeyCache) {
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const key = bearerKey(request.headers.authorization);
    const identity = await cache.identify(key);
    if (identity === undefined) throw new UnauthenticatedError('authorization', 'unknown or revoked API key');
    const needed = request.routeOptions.config?.scope ?? 'admin';
    if (needed !== 'any' && !hasScope(identity.scopes, needed)) throw missingScopeError(needed, identity.scopes);
    request.tenantId = identity.tenantId;
    request.apiKey = identity;
  };
}
