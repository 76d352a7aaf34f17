import { describe, expect, it } from 'vitest';
import { TenantKeyCache, bearerKey } from '../../src/api/auth';
import { InputError } from '../../src/errors';

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
    expect(await cache.tenantFor('k1')).toBe('tenant-a');
    now += 59_999;
    expect(await cache.tenantFor('k1')).toBe('tenant-a');
    expect(db.calls).toEqual(['k1']);
    now += 1;
    expect(await cache.tenantFor('k1')).toBe('tenant-a');
    expect(db.calls).toEqual(['k1', 'k1']);
  });

  it('does not cache unknown keys, so a key issued later works at once', async () => {
    const answers: Record<string, string | undefined> = {};
    const db = counting(answers);
    const cache = new TenantKeyCache(db.lookup);
    expect(await cache.tenantFor('new')).toBeUndefined();
    answers.new = 'tenant-b';
    expect(await cache.tenantFor('new')).toBe('tenant-b');
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
    const all = Promise.all([cache.tenantFor('k'), cache.tenantFor('k'), cache.tenantFor('k')]);
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
    await expect(cache.tenantFor('k')).rejects.toThrow('db down');
    fail = false;
    expect(await cache.tenantFor('k')).toBe('tenant-a');
  });

  it('keeps at most maxEntries keys, dropping the oldest', async () => {
    const db = counting({ a: 't', b: 't', c: 't' });
    const cache = new TenantKeyCache(db.lookup, { maxEntries: 2 });
    await cache.tenantFor('a');
    await cache.tenantFor('b');
    await cache.tenantFor('c');
    expect(cache.size).toBe(2);
    await cache.tenantFor('c');
    await cache.tenantFor('b');
    expect(db.calls).toEqual(['a', 'b', 'c']);
    await cache.tenantFor('a');
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
      expect((e as InputError).status).toBe(401);
      expect((e as InputError).field).toBe('authorization');
    }
  });
});
