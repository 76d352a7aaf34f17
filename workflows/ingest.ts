import { ContinueAsNew, continueAsNew, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type IngestInput, type IngestResult, type IngestState, RETRY, type SpanResult, ingestProgressQuery, runRecordId } from '../src/temporal/contract';
import { recordingFailure } from './failure';

const { startIngestRun, importSpan, finishIngestRun, failRun } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '15 seconds',
  retry: RETRY.ingest,
});

/** Span activities per run before continuing as new; keeps history small however large the import. */
const SPANS_PER_RUN = 200;

/**
 * Imports JSONL interaction logs file by file, chunk by chunk. Each chunk's offset is the checkpoint: the workflow
 * resumes from it after any crash, and the chunk activity itself is idempotent, so every line is stored once. A
 * failure marks the run record failed with its reason (continuing as new is not a failure).
 */
export async function ingestWorkflow(input: IngestInput): Promise<IngestResult> {
  const info = workflowInfo();
  // The record's id is the first run's: a continued run carries it in its state.
  const runId = input.state?.runId ?? runRecordId(info.workflowId, info.runId);
  // Executions started before the failure bookkeeping replay without it (see README "Versioning workflows").
  if (!patched('ingest-fail-run')) return importAll(input, runId);
  return recordingFailure(
    () => importAll(input, runId),
    (error) => failRun({ runId, kind: 'ingest', tenantId: input.tenantId, workflowId: info.workflowId, error }),
    (err) => !(err instanceof ContinueAsNew),
  );
}

async function importAll(input: IngestInput, runId: string): Promise<IngestResult> {
  const info = workflowInfo();
  let state: IngestState;
  if (input.state) {
    state = input.state;
  } else {
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
    const r: SpanResult = await importSpan({
      runId: state.runId,
      tenantId: input.tenantId,
      source: input.source,
      file,
      offset: state.offset,
      line: state.line,
      defaultModel: input.defaultModel,
      chunkBytes: input.chunkBytes,
    });
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
