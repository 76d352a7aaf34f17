/**
 * One file of an import source, as the ingest workflow carries it from span to span (its own module, free of the
 * blob store and config, so the Temporal contract can name it without importing I/O code).
 */
export interface SourceFile {
  key: string;
  uri: string;
  size: number;
}
