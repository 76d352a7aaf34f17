import { describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import { TenantKeyCache, authHook, bearerKey } from '../../src/api/auth';
import { withKeyReviewer } from '../../src/api/routes-review';
import { operatorReviewer } from '../../src/cli/graduation';
import { InputError } from '../../src/errors';
import { type Scope, hasScope, parseScopes } from '../../src/keys/scopes';
import type { KeyIdentity } from '../../src/keys/store';
import { httpStatusOf } from '../../src/api/errors';

function counting(answers: Record<string, string | undefined>) {
  const calls: string[] = [];
  return {
    calls,
    lookup: async (key: string) => {
      calls.push(key);
      return answers[key];
    },
  };
}

describe('TenantKeyCache', () => {
  it('asks once per key while the entry is fresh, and again after the TTL', async () => {
    let now = 1_000;
    const db = counting({ k1: 'tenant-a' });
    const cache = new TenantKeyCache(db.lookup, { ttlMs: 60_000, now: () => now });
    expect(await cache.identify('k1')).toBe('tenant-a');
    now += 59_999;
    expect(await cache.identify('k1')).toBe('tenant-a');
    expect(db.calls).toEqual(['k1']);
    now += 1;
    expect(await cache.identify('k1')).toBe('tenant-a');
    expect(db.calls).toEqual(['k1', 'k1']);
  });

  it('does not cache unknown keys, so a key issued later works at once', async () => {
    const answers: Record<string, string | undefined> = {};
    const db = counting(answers);
    const cache = new TenantKeyCache(db.lookup);
    expect(await cache.identify('new')).toBeUndefined();
    answers.new = 'tenant-b';
    expect(await cache.identify('new')).toBe('tenant-b');
    expect(db.calls).toEqual(['new', 'new']);
    expect(cache.size).toBe(1);
  });

  it('shares one lookup between concurrent first requests of the same key', async () => {
    let release!: (v: string) => void;
    let calls = 0;
    const cache = new TenantKeyCache(() => {
      calls++;
      return new Promise<string>((r) => (release = r));
    });
    const all = Promise.all([cache.identify('k'), cache.identify('k'), cache.identify('k')]);
    release('tenant-a');
    expect(await all).toEqual(['tenant-a', 'tenant-a', 'tenant-a']);
    expect(calls).toBe(1);
  });

  it('does not remember a failed lookup', async () => {
    let fail = true;
    const cache = new TenantKeyCache(async () => {
      if (fail) throw new Error('db down');
      return 'tenant-a';
    });
    await expect(cache.identify('k')).rejects.toThrow('db down');
    fail = false;
    expect(await cache.identify('k')).toBe('tenant-a');
  });

  it('keeps at most maxEntries keys, dropping the oldest', async () => {
    const db = counting({ a: 't', b: 't', c: 't' });
    const cache = new TenantKeyCache(db.lookup, { maxEntries: 2 });
    await cache.identify('a');
    await cache.identify('b');
    await cache.identify('c');
    expect(cache.size).toBe(2);
    await cache.identify('c');
    await cache.identify('b');
    expect(db.calls).toEqual(['a', 'b', 'c']);
    await cache.identify('a');
    expect(db.calls).toEqual(['a', 'b', 'c', 'a']);
  });
});

describe('bearerKey', () => {
  it('extracts the key from a Bearer header, any case, surrounding spaces allowed', () => {
    expect(bearerKey('Bearer dk_abc')).toBe('dk_abc');
    expect(bearerKey('bearer   dk_abc  ')).toBe('dk_abc');
  });

  it.each([undefined, '', '   ', 'dk_abc', 'Basic dk_abc', 'Bearer', 'Bearer a b'])('rejects %j with a 401 on authorization', (h) => {
    try {
      bearerKey(h);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect(httpStatusOf(e as InputError)).toBe(401);
      expect((e as InputError).field).toBe('authorization');
    }
  });
});

describe('scopes', () => {
  it('admin grants every scope; others only themselves', () => {
    expect(hasScope(['admin'], 'review')).toBe(true);
    expect(hasScope(['ingest'], 'ingest')).toBe(true);
    expect(hasScope(['ingest'], 'review')).toBe(false);
    expect(hasScope(['review'], 'ingest')).toBe(false);
    expect(hasScope([], 'ingest')).toBe(false);
  });

  it('parses a comma list in a fixed order and names an unknown scope', () => {
    expect(parseScopes('review, ingest,review')).toEqual(['ingest', 'review']);
    expect(() => parseScopes('ingest,write', '--scopes')).toThrow(/^--scopes: unknown scope "write": use a comma-separated list of ingest, review, admin$/);
    expect(() => parseScopes(' , ')).toThrow(/at least one scope/);
  });
});

describe('authHook', () => {
  const identity = (scopes: Scope[]) =>
    new TenantKeyCache<KeyIdentity>(async (k) => (k === 'good' ? { tenantId: 't', keyId: 1, name: 'ada', scopes } : undefined));
  const request = (scope: Scope | 'any' | undefined, key = 'good') =>
    ({ headers: { authorization: `Bearer ${key}` }, routeOptions: { config: scope ? { scope } : {} } }) as unknown as FastifyRequest;
  const outcome = async (hook: ReturnType<typeof authHook>, req: FastifyRequest) => {
    try {
      await hook(req);
      return 'ok';
    } catch (e) {
      return `${httpStatusOf(e as InputError)} ${(e as InputError).message}`;
    }
  };

  it('sets tenant and key on a request within scope', async () => {
    const req = request('review');
    expect(await outcome(authHook(identity(['review'])), req)).toBe('ok');
    expect(req.tenantId).toBe('t');
    expect(req.apiKey.name).toBe('ada');
  });

  it('answers 403 naming the missing scope, 401 for an unknown key, and treats a route without a scope as admin-only', async () => {
    expect(await outcome(authHook(identity(['ingest'])), request('review'))).toMatch(
      /^403 authorization: this API key lacks the "review" scope \(it has ingest\)/,
    );
    expect(await outcome(authHook(identity(['review'])), request('ingest'))).toMatch(/^403 .*"ingest" scope/);
    expect(await outcome(authHook(identity(['ingest', 'review'])), request(undefined))).toMatch(/^403 .*"admin" scope/);
    expect(await outcome(authHook(identity(['admin'])), request(undefined))).toBe('ok');
    expect(await outcome(authHook(identity(['ingest'])), request('any'))).toBe('ok');
    expect(await outcome(authHook(identity(['admin'])), request('ingest', 'bad'))).toBe('401 authorization: unknown or revoked API key');
  });
});

describe('reviewer identity', () => {
  it('API decisions take the reviewer from the key and refuse one in the body', () => {
    expect(withKeyReviewer({ action: 'approve' }, 'ada@example.com')).toEqual({ action: 'approve', reviewer: 'ada@example.com' });
    expect(() => withKeyReviewer({ action: 'approve', reviewer: 'someone else' }, 'ada')).toThrow(
      /^reviewer: not accepted: the reviewer is the name of your API key \("ada"\); drop the field$/,
    );
    expect(withKeyReviewer('nonsense', 'ada')).toBe('nonsense'); // validateDecision explains what is wrong with it
  });

  it('CLI decisions are marked cli:, once', () => {
    expect(operatorReviewer('ana')).toBe('cli:ana');
    expect(operatorReviewer(' cli:ana ')).toBe('cli:ana');
    expect(operatorReviewer('')).toBe('');
  });
});
