/**
 * Fast deterministic 32-bit hashing for the dataset builder (pure integer arithmetic: the same on every platform and
 * Node version). Not cryptographic: used for seeded orderings and MinHash, never for content addresses.
 */

/** MurmurHash3's finaliser: a bijection of uint32 with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** FNV-1a over the UTF-16 code units, then fmix32 (FNV alone mixes its high bits poorly). */
export function hashString32(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h ^ s.length);
}

/**
 * A seeded rank in [0, 2^32) for a key: what a seeded selection sorts by (ties broken by the key itself). The seed
 * and a salt (one per use: "cap", "split", ...) keep the orders of different uses independent of each other.
 */
export function seededRank(seed: string, salt: string, key: number | string): number {
  return hashString32(`${seed}\u0000${salt}\u0000${key}`);
}
