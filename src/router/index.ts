/**
 * Router client: resolves queries to serving tiers with a published manifest. Depends on node built-ins, ajv (schema),
 * handlebars (templates, through src/graduation/render) and the Embedder interface; the AWS SDK is loaded only for
 * s3:// sources. No database, no Temporal.
 */
export { Router, type RouterOptions, type RefreshResult } from './router';
export { type CompiledManifest, type RouteResolution, compileManifest, resolveCompiled, resolverFor } from './resolver';
export { NearestIndex, type Nearest, type NearestIndexOptions, type NearestIndexStats } from './nearest';
export { type LoadManifestOptions, type LoadedManifest, type ManifestPointer, ManifestSourceError, loadManifest } from './source';
export type { S3SourceOptions } from './s3';
