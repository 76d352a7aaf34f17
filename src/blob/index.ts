import type { Config } from '../config';
import { FsBlobStore } from './fs';
import { S3BlobStore } from './s3';
import type { BlobStore } from './store';

export { BlobNotFoundError, type BlobStore } from './store';
export { FsBlobStore } from './fs';
export { S3BlobStore } from './s3';

export function openBlobStore(config: Config['blob']): BlobStore {
  return config.kind === 's3' ? new S3BlobStore(config) : new FsBlobStore(config.dir);
}
