import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BlobStore } from '../blob';
import type { SourceFile } from './source';

/** Compressed bytes fetched per request when streaming a .gz file. */
const GZ_PIECE_BYTES = 8 * 1024 * 1024;

export interface ReadResult {
  buf: Buffer;
  /** The bytes reach the end of the file (or of its readable part, see `damaged`). */
  eof: boolean;
  /** A .gz file whose compressed data breaks off or is corrupt: what zlib said; nothing after `buf` can be read. */
  damaged?: string;
}

/**
 * Reads an import file by offset. Offsets are positions in the file's lines, so for a `.jsonl.gz` file they count
 * decompressed bytes: checkpoints stay meaningful, and a reader opened at an offset decompresses from the start of
 * the file and skips to it (gzip has no index; see README "Limits" for what that costs).
 */
export interface ChunkReader {
  read(offset: number, n: number): Promise<ReadResult>;
  close(): void;
}

export function isGzip(file: Pick<SourceFile, 'key'>): boolean {
  return file.key.endsWith('.gz');
}

/** gzip's magic bytes: a compressed file under a plain name must be told apart from text. */
export function looksGzipped(buf: Buffer): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

export function openReader(store: BlobStore, file: SourceFile, onProgress: () => void = () => {}): ChunkReader {
  if (!isGzip(file)) {
    return {
      async read(offset, n) {
        const buf = await store.getRange(file.key, offset, offset + n);
        return { buf, eof: offset + buf.length >= file.size };
      },
      close() {},
    };
  }
  return new GunzipReader(store, file, onProgress);
}

/** A forward-only cursor over the decompressed stream; a read behind the cursor starts over. */
class GunzipReader implements ChunkReader {
  private stream?: AsyncIterator<Buffer>;
  private destroy?: () => void;
  /** Decompressed offset of the first byte held in `held`. */
  private pos = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private done = false;
  private damaged?: string;

  constructor(
    private readonly store: BlobStore,
    private readonly file: SourceFile,
    private readonly onProgress: () => void,
  ) {}

  async read(offset: number, n: number): Promise<ReadResult> {
    if (!this.stream || offset < this.pos) this.restart();
    // Drop what lies before `offset`, then hold at least `n` bytes (or all that is left).
    while (this.pos + this.heldBytes <= offset && !this.done) {
      this.pos += this.heldBytes;
      this.held = [];
      this.heldBytes = 0;
      await this.pull();
    }
    if (offset > this.pos) {
      // Keep nothing before `offset`: reads move forward, and the held bytes must not grow with the file.
      const rest = Buffer.concat(this.held).subarray(Math.min(offset - this.pos, this.heldBytes));
      this.pos += this.heldBytes - rest.length;
      this.held = [rest];
      this.heldBytes = rest.length;
    }
    while (this.heldBytes < n && !this.done) await this.pull();
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [all];
    const buf = all.subarray(0, n);
    const eof = this.done && n >= all.length;
    return { buf, eof, ...(eof && this.damaged ? { damaged: this.damaged } : {}) };
  }

  close(): void {
    this.destroy?.();
  }

  private restart(): void {
    this.close();
    const { store, file } = this;
    async function* compressed() {
      for (let off = 0; off < file.size; off += GZ_PIECE_BYTES) yield await store.getRange(file.key, off, off + GZ_PIECE_BYTES);
    }
    const source = Readable.from(compressed());
    const gunzip = createGunzip();
    source.on('error', (err) => gunzip.destroy(err));
    source.pipe(gunzip);
    this.stream = gunzip[Symbol.asyncIterator]();
    this.destroy = () => {
      source.destroy();
      gunzip.destroy();
    };
    this.pos = 0;
    this.held = [];
    this.heldBytes = 0;
    this.done = false;
    this.damaged = undefined;
  }

  private async pull(): Promise<void> {
    try {
      const next = await this.stream!.next();
      if (next.done) this.done = true;
      else {
        this.held.push(next.value);
        this.heldBytes += next.value.length;
      }
    } catch (err) {
      // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR "unexpected end of file") are the file's fault: the rest of it
      // is reported, not retried. Anything else (the blob store failing) is thrown and the activity retries.
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!code.startsWith('Z_')) throw err;
      this.done = true;
      this.damaged = `${(err as Error).message} (${code})`;
    }
    this.onProgress();
  }
}
