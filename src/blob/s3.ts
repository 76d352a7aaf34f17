import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, NoSuchKey, NotFound, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { type BlobStore, BlobNotFoundError, checkKey } from './store';

export interface S3BlobStoreOptions {
  bucket: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  prefix: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * S3 (AWS, MinIO, SeaweedFS). Path-style addressing for self-hosted servers; uploads go through lib-storage's
 * `Upload`, which switches to multipart above one part (8 MiB) so large datasets and adapters stream.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  constructor(readonly opts: S3BlobStoreOptions) {
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
      maxAttempts: 5, // SDK standard retry mode: exponential backoff with jitter on throttles, 5xx and network errors
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    });
  }

  private objectKey(key: string): string {
    return this.opts.prefix + checkKey(key);
  }

  uri(key: string): string {
    return `s3://${this.opts.bucket}/${this.opts.prefix}${key === '' ? '' : checkKey(key.replace(/\/$/, ''))}${key.endsWith('/') ? '/' : ''}`;
  }

  async put(key: string, body: Buffer | string | Readable, opts?: { contentType?: string }): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.opts.bucket, Key: this.objectKey(key), Body: body, ContentType: opts?.contentType },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string): Promise<Buffer> {
    return this.read(key);
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    try {
      return await this.read(key, `bytes=${start}-${end - 1}`);
    } catch (err) {
      // 416: the range starts at or past the end of the object; that is an empty read, not an error.
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 416) return Buffer.alloc(0);
      throw err;
    }
  }

  private async read(key: string, range?: string): Promise<Buffer> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key), Range: range }));
      return Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      if (err instanceof NoSuchKey || err instanceof NotFound) throw new BlobNotFoundError(this.uri(key));
      throw err;
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (err instanceof NotFound || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const out: Array<{ key: string; size: number }> = [];
    let token: string | undefined;
    do {
      const res = await this.client.send(new ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.opts.prefix + prefix, ContinuationToken: token }));
      for (const o of res.Contents ?? []) {
        if (o.Key) out.push({ key: o.Key.slice(this.opts.prefix.length), size: o.Size ?? 0 });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.objectKey(key) }));
  }
}
