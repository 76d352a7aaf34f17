import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * The digest of a model folder (a base or a PEFT adapter): sha256 over `relative/path\0<sha256 of the file>\n` for
 * every file, sorted by path. The same as scripts/trainer/base_models.py folder_digest, so a digest recorded by
 * either side verifies on the other. Files whose name starts with '.' (markers such as `.uploaded`) are skipped.
 */
export async function folderDigest(dir: string): Promise<string> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r);
      else if (e.isFile() && !e.name.startsWith('.')) files.push(r);
    }
  };
  await walk('');
  files.sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
  const h = createHash('sha256');
  for (const rel of files) h.update(`${rel}\0${await fileSha256(path.join(dir, rel))}\n`);
  return `sha256:${h.digest('hex')}`;
}

async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}
