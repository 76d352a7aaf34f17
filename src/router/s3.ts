import { S3BlobStore } from '../blob/s3';
import type { BlobStore } from '../blob/store';

/**
 * S3 access for `s3://bucket/key` manifest sources. Its own module, imported on demand by source.ts, so a router
 * that reads manifests from files or URLs never loads the AWS SDK.
 */

export interface S3SourceOptions {
  /** Default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** For MinIO, SeaweedFS and other S3-compatible servers. */
  endpoint?: string;
  /** Default: true when an endpoint is given (self-hosted servers), else false. */
  forcePathStyle?: boolean;
  /** Default: the AWS default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function s3BlobStore(bucket: string, opts: S3SourceOptions = {}): BlobStore {
  return new S3BlobStore({
    bucket,
    prefix: '',
    region: opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    endpoint: opts.endpoint,
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
    credentials: opts.credentials,
  });
}

/** Stores are cached per bucket and connection settings. */
export function s3CacheKey(bucket: string, opts: S3SourceOptions = {}): string {
  return JSON.stringify([bucket, opts.region, opts.endpoint, opts.forcePathStyle, opts.credentials?.accessKeyId]);
}
