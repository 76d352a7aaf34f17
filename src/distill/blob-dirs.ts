import { createReadStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from '../blob';
import { BlobNotFoundError } from '../blob';

/** Where a local job's trained PEFT adapter folder lives in the blob store. */
export const adapterPrefix = (jobId: string) => `adapters/${jobId}`;

/** Copies a local directory tree to `prefix/…` in the blob store (adapters, checkpoints). Returns the keys. */
export async function uploadDir(blob: BlobStore, dir: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(r);
      else if (entry.isFile()) {
        await blob.put(`${prefix}/${r}`, createReadStream(path.join(dir, r)));
        keys.push(`${prefix}/${r}`);
      }
    }
  };
  await walk('');
  return keys;
}

/** Copies every object under `prefix/` to a local directory (relative paths kept). Returns how many files. */
export async function downloadDir(blob: BlobStore, prefix: string, dir: string): Promise<number> {
  const objects = await blob.list(`${prefix}/`);
  for (const o of objects) {
    const rel = o.key.slice(prefix.length + 1);
    const target = path.join(dir, ...rel.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, await blob.get(o.key));
  }
  return objects.length;
}

/**
 * Training checkpoints of a job in the blob store, so a job resumes on whichever runner picks it up after a crash:
 * each checkpoint is uploaded whole, then the `LATEST` pointer is switched to it (a reader never sees half of one).
 * With a fingerprint (what the checkpoint was trained from: checkpointFingerprint), each checkpoint records it
 * beside itself (`step-N.fingerprint`, written before LATEST moves) and restore skips a checkpoint whose
 * fingerprint differs or is missing: resuming another data file's or config's weights would silently mix trainings.
 */
export class CheckpointStore {
  constructor(
    private readonly blob: BlobStore,
    private readonly prefix: string,
    private readonly opts: { fingerprint?: string; onRefused?: (reason: string) => void } = {},
  ) {}

  async save(localDir: string, step: number): Promise<void> {
    const name = `step-${step}`;
    await uploadDir(this.blob, localDir, `${this.prefix}/${name}`);
    if (this.opts.fingerprint) await this.blob.put(`${this.prefix}/${name}.fingerprint`, this.opts.fingerprint);
    await this.blob.put(`${this.prefix}/LATEST`, name);
  }

  /** Restores the latest checkpoint into `checkpointsDir/step-N`; returns its step, or undefined when none (or refused). */
  async restore(checkpointsDir: string): Promise<number | undefined> {
    const name = await this.read('LATEST');
    if (name === undefined) return undefined;
    if (this.opts.fingerprint) {
      const found = await this.read(`${name}.fingerprint`);
      if (found !== this.opts.fingerprint) {
        this.opts.onRefused?.(
          `checkpoint ${this.prefix}/${name} was made from ${found ? `other data or config (fingerprint ${found})` : 'unrecorded data (no fingerprint)'}, not ${this.opts.fingerprint}: training from scratch`,
        );
        return undefined;
      }
    }
    await downloadDir(this.blob, `${this.prefix}/${name}`, path.join(checkpointsDir, name));
    return Number(name.slice('step-'.length));
  }

  private async read(rel: string): Promise<string | undefined> {
    try {
      return (await this.blob.get(`${this.prefix}/${rel}`)).toString('utf8').trim();
    } catch (err) {
      if (err instanceof BlobNotFoundError) return undefined;
      throw err;
    }
  }
}
