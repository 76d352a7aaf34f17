import { Context } from '@temporalio/activity';

/**
 * Heartbeats every few seconds while `fn` runs, so a short heartbeat timeout can tell a lost worker from slow work:
 * when the worker dies, Temporal retries the activity elsewhere after the heartbeat timeout instead of after its
 * whole start-to-close budget. (Work that blocks the event loop for longer than the timeout must heartbeat itself.)
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), 5_000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}
