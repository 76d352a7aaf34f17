import { continueAsNew, defineQuery, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SpanResult, IngestTotals } from '../activities/ingest';
import type { Activities } from '../activities';
import type { SourceFile } from '../src/ingest/source';

export interface IngestInput {
  tenantId: string;
  /** s3://bucket/prefix or a local path (file or directory) of JSONL files. */
  source: string;
  /** Teacher model for chat-log lines that do not name one. */
  defaultModel?: string;
  /** Bytes per checkpointed chunk (default 8 MiB); one activity call imports a span of up to 8 chunks. */
  chunkBytes?: number;
  /** Span activities per workflow run before continuing as new (default 200); bounds the history size. */
  spansPerRun?: number;
  /** Carried across continueAsNew; absent on the first run. */
  state?: IngestState;
}

export interface IngestState {
  runId: string;
  files: SourceFile[];
  fileIndex: number;
  offset: number;
  line: number;
  totals: IngestTotals;
}

export interface IngestResult extends IngestTotals {
  runId: string;
  reportUri: string | null;
}

export const ingestProgressQuery = defineQuery<IngestState | undefined>('progress');

const { startIngestRun, importSpan, finishIngestRun } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20, nonRetryableErrorTypes: ['InputError'] },
});

/** Span activities per run before continuing as new; keeps history small however large the import. */
const SPANS_PER_RUN = 200;

/**
 * Imports JSONL interaction logs file by file, chunk by chunk. Each chunk's offset is the checkpoint: the workflow
 * resumes from it after any crash, and the chunk activity itself is idempotent, so every line is stored once.
 */
export async function ingestWorkflow(input: IngestInput): Promise<IngestResult> {
  const info = workflowInfo();
  let state: IngestState;
  if (input.state) {
    state = input.state;
  } else {
    const runId = `${info.workflowId}@${info.runId}`;
    const files = await startIngestRun({ runId, workflowId: info.workflowId, tenantId: input.tenantId, source: input.source });
    state = { runId, files, fileIndex: 0, offset: 0, line: 1, totals: { files: files.length, lines: 0, stored: 0, duplicates: 0, rejected: 0, blank: 0 } };
  }
  setHandler(ingestProgressQuery, () => state);

  let spans = 0;
  while (state.fileIndex < state.files.length) {
    if (spans >= (input.spansPerRun ?? SPANS_PER_RUN) || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof ingestWorkflow>({ ...input, state });
    }
    const file = state.files[state.fileIndex]!;
    const r: SpanResult = await importSpan({ runId: state.runId, tenantId: input.tenantId, source: input.source, file, offset: state.offset, line: state.line, defaultModel: input.defaultModel, chunkBytes: input.chunkBytes });
    spans++;
    state.totals.lines += r.lines;
    state.totals.stored += r.stored;
    state.totals.duplicates += r.duplicates;
    state.totals.rejected += r.rejected;
    state.totals.blank = (state.totals.blank ?? 0) + r.blank;
    if (r.eof) {
      state.fileIndex++;
      state.offset = 0;
      state.line = 1;
    } else {
      state.offset = r.nextOffset;
      state.line = r.nextLine;
    }
  }
  const { reportUri } = await finishIngestRun({ runId: state.runId, tenantId: input.tenantId, totals: state.totals });
  return { runId: state.runId, reportUri, ...state.totals };
}
