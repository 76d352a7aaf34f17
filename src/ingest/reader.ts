import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BlobStore } from '../blob';
import type { Reject } from './commit';
import { MAX_LINE_BYTES, excerptOf, splitLines, tooLongReason } from './lines';
import type { SourceFile } from './source-file';

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

/**
 * Reads the whole lines of one chunk starting at `offset`. A line longer than the chunk is read whole if it is
 * within MAX_LINE_BYTES (the line limit does not depend on the chunk size); a longer one is skipped to its end and
 * rejected, so the import moves on instead of stalling on it. A compressed file under a plain name is rejected as
 * one line (its bytes are no JSONL), and the damaged tail of a .gz file is rejected as one line.
 */
export async function readChunk(reader: ChunkReader, file: SourceFile, offset: number, line: number, chunkBytes: number, heartbeat: () => void) {
  const first = await reader.read(offset, chunkBytes);
  if (offset === 0 && !isGzip(file) && looksGzipped(first.buf)) {
    const reason = `the file is gzip-compressed: name it ${file.key.replace(/\.jsonl$/, '')}.jsonl.gz to import it`;
    return { lines: [], consumed: file.size, lineCount: 1, eof: true, rejects: [{ lineNo: line, reason, excerpt: '' }] };
  }
  const chunk = splitLines(first.buf, line, first.eof);
  if (chunk.consumed > 0 || first.buf.length === 0)
    return withDamage({ ...chunk, lineCount: chunk.lines.length, eof: first.eof, rejects: [] as Reject[] }, line, first.damaged);
  // No newline in the whole chunk: the line at `offset` is longer than a chunk. Look as far as the line limit.
  const probe = first.buf.length > MAX_LINE_BYTES ? first : await reader.read(offset, MAX_LINE_BYTES + 1);
  const nl = probe.buf.indexOf(0x0a);
  if (nl !== -1 || probe.eof) {
    const whole = splitLines(nl === -1 ? probe.buf : probe.buf.subarray(0, nl + 1), line, true);
    return withDamage({ ...whole, lineCount: 1, eof: probe.eof && nl === -1, rejects: [] as Reject[] }, line, probe.damaged);
  }
  // Over the limit: skip to the end of the line, reading a chunk at a time (never holding it whole).
  let end = offset + probe.buf.length;
  let eof = false;
  let damaged: string | undefined;
  for (;;) {
    const next = await reader.read(end, chunkBytes);
    const at = next.buf.indexOf(0x0a);
    if (at !== -1 || next.eof) {
      end += at === -1 ? next.buf.length : at + 1;
      eof = next.eof && at === -1;
      damaged = next.damaged;
      break;
    }
    end += next.buf.length;
    heartbeat();
  }
  const lineBytes = end - offset - (eof ? 0 : 1);
  const excerpt = excerptOf(new TextDecoder().decode(probe.buf.subarray(0, 200)));
  return withDamage(
    { lines: [], consumed: end - offset, lineCount: 1, eof, rejects: [{ lineNo: line, reason: tooLongReason(lineBytes), excerpt }] },
    line,
    damaged,
  );
}

/** A .gz file that breaks off: its unreadable rest counts as one more rejected line after the chunk's lines. */
function withDamage<T extends { lineCount: number; rejects: Reject[]; eof: boolean }>(chunk: T, firstLine: number, damaged: string | undefined): T {
  if (!damaged || !chunk.eof) return chunk;
  return {
    ...chunk,
    lineCount: chunk.lineCount + 1,
    rejects: [
      ...chunk.rejects,
      {
        lineNo: firstLine + chunk.lineCount,
        reason: `the compressed data is damaged after this point and the rest of the file cannot be read: ${damaged}`,
        excerpt: '',
      },
    ],
  };
}
