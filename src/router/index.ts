/**
 * Router client: resolves queries to serving tiers with a published manifest. Depends on node built-ins, ajv (schema),
 * handlebars (templates) and the Embedder interface, through src/serving (the core it shares with the pipeline and
 * a future gateway); the AWS SDK is loaded only for s3:// sources. No database, no Temporal.
 */
export { Router, type RouterOptions, type RefreshResult, type RunResolution } from './router';
export { type ToolRegistry, type ToolImpl, type ToolScript, type ScriptCall, type ScriptRun, runToolScript } from '../serving/toolscript';
export { type CompiledManifest, type RouteResolution, compileManifest, resolveCompiled, resolverFor } from '../serving/resolver';
export { NearestIndex, type Nearest, type NearestIndexOptions, type NearestIndexStats } from '../serving/nearest';
export { type LoadManifestOptions, type LoadedManifest, type ManifestPointer, ManifestSourceError, loadManifest } from './source';
export type { S3SourceOptions } from './s3';
