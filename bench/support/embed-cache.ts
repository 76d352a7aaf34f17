import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Embedder } from '../../src/embeddings/types';

/**
 * A file cache of vectors for benchmarks run by hand (bench/out/, git-ignored): reruns embed only new texts, without
 * a database. One binary file per embedder id: [count u32][dims u32] then per entry a 16-byte text hash and the floats.
 */
export function fileCachedEmbed(
  embedder: Embedder,
  dir = 'bench/out',
): { embed: (texts: string[]) => Promise<Float32Array[]>; save: () => void; stats: { hits: number; misses: number } } {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `vectors-${embedder.id.replace(/[^a-zA-Z0-9.-]+/g, '_')}.bin`);
  const cache = new Map<string, Float32Array>();
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const count = buf.readUInt32LE(0);
    const dims = buf.readUInt32LE(4);
    let off = 8;
    for (let i = 0; i < count; i++) {
      const key = buf.subarray(off, off + 16).toString('hex');
      off += 16;
      cache.set(key, new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + 4 * dims)));
      off += 4 * dims;
    }
  }
  const stats = { hits: 0, misses: 0 };
  let dirty = false;
  const key = (t: string) => createHash('sha256').update(t).digest().subarray(0, 16).toString('hex');
  return {
    stats,
    async embed(texts) {
      const keys = texts.map(key);
      const missing = [...new Set(keys.flatMap((k, i) => (cache.has(k) ? [] : [i])).map((i) => texts[i]!))];
      stats.hits += texts.length - missing.length;
      stats.misses += missing.length;
      for (let i = 0; i < missing.length; i += 512) {
        const part = missing.slice(i, i + 512);
        const vecs = await embedder.embed(part);
        part.forEach((t, j) => cache.set(key(t), vecs[j]!));
        dirty = true;
      }
      return keys.map((k) => cache.get(k)!);
    },
    save() {
      if (!dirty) return;
      const entries = [...cache.entries()];
      const dims = entries[0]?.[1].length ?? 0;
      const buf = Buffer.alloc(8 + entries.length * (16 + 4 * dims));
      buf.writeUInt32LE(entries.length, 0);
      buf.writeUInt32LE(dims, 4);
      let off = 8;
      for (const [k, v] of entries) {
        Buffer.from(k, 'hex').copy(buf, off);
        off += 16;
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(buf, off);
        off += 4 * dims;
      }
      writeFileSync(file, buf);
      dirty = false;
    },
  };
}
