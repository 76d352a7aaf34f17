import type { Client, WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';

// A CommonJS package: its namespace comes through the default export under ESM.
const { TaskQueueType } = proto.temporal.api.enums.v1;

/** What `waitNotes` needs to know, as plain data (so it can be tested without a server). */
export interface WaitFacts {
  taskQueue: string;
  /** Pending activities of the workflow: name, attempt, last failure's message. */
  pending: Array<{ name: string; attempt: number; lastFailure?: string }>;
  /** When each poller of the queue (workflow and activity tasks) last polled, ms since the epoch. */
  pollers: { workflow: number[]; activity: number[] };
  now: number;
}

/**
 * A poller that has not polled for this long is gone: a worker's long poll lasts at most a minute before it polls
 * again, and the server keeps listing a dead poller for minutes.
 */
export const POLLER_STALE_MS = 90_000;

/** Lines telling a waiting user why nothing moves: an activity retrying (and why), or no worker at all. */
export function waitNotes(f: WaitFacts): string[] {
  const notes: string[] = [];
  const live = (ts: number[]) => ts.some((t) => f.now - t < POLLER_STALE_MS);
  if (!live(f.pollers.workflow) || !live(f.pollers.activity)) notes.push(`no worker is polling ${f.taskQueue}: start one with \`distillery worker\``);
  for (const p of f.pending) {
    if (p.attempt > 1 && p.lastFailure) notes.push(`retrying: ${p.name} (attempt ${p.attempt}): ${p.lastFailure.split('\n', 1)[0]!.slice(0, 200)}`);
  }
  return notes;
}

function msOf(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!t) return 0;
  return Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** Gathers WaitFacts for a workflow from the server: describe() and the queue's pollers (no worker needed). */
export async function waitFacts(client: Client, handle: WorkflowHandle, taskQueue: string): Promise<WaitFacts> {
  const pollersOf = async (taskQueueType: proto.temporal.api.enums.v1.TaskQueueType) =>
    (
      (await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue }, taskQueueType })).pollers ?? []
    ).map((p) => msOf(p.lastAccessTime));
  const [desc, workflow, activity] = await Promise.all([
    handle.describe(),
    pollersOf(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    pollersOf(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  const pending = (desc.raw.pendingActivities ?? []).map((p) => ({
    name: p.activityType?.name ?? 'activity',
    attempt: p.attempt ?? 1,
    ...(p.lastFailure?.message ? { lastFailure: p.lastFailure.message } : {}),
  }));
  return { taskQueue, pending, pollers: { workflow, activity }, now: Date.now() };
}
