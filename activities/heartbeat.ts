import { Context } from '@temporalio/activity';

/**
 * Heartbeats every few seconds while `fn` runs, so a short heartbeat timeout can tell a lost worker from slow work:
 * when the worker dies, Temporal retries the activity elsewhere after the heartbeat timeout instead of after its
 * whole start-to-close budget. A cancel request reaches the activity only in a heartbeat's reply, so `everyMs`
 * (with the worker's heartbeat throttle) bounds how late it learns of one. (Work that blocks the event loop for
 * longer than the timeout must heartbeat itself.)
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => unknown, everyMs = 5_000): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
