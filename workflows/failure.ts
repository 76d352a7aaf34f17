import { ActivityFailure, ApplicationFailure, CancellationScope, ChildWorkflowFailure } from '@temporalio/workflow';

/**
 * The reason behind a failure, for a run record or a job: an activity's or child's wrapper says only "Activity task
 * failed", so the innermost cause is what a person needs to read.
 */
export function reasonOf(err: unknown): string {
  if ((err instanceof ActivityFailure || err instanceof ChildWorkflowFailure) && err.cause) return reasonOf(err.cause);
  if (err instanceof ApplicationFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs `body`; when it fails (cancellation included) records the failure with `record` before rethrowing. The
 * record runs outside cancellation, so a cancelled workflow still closes its record. `isFailure` tells failures from
 * other ways out of a workflow (continue-as-new is thrown too).
 */
export async function recordingFailure<T>(
  body: () => Promise<T>,
  record: (reason: string) => Promise<void>,
  isFailure: (err: unknown) => boolean = () => true,
): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (isFailure(err)) await CancellationScope.nonCancellable(() => record(reasonOf(err)));
    throw err;
  }
}
