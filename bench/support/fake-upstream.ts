/**
 * The gateway benchmark's fake upstream (test/support/fake-chat.ts) as its own process, so that neither the load
 * generator's nor the gateway's event loop also serves the upstream. Answers after `BENCH_UPSTREAM_MS`; sends
 * `{ type: 'ready', url }` over IPC when listening; `{ cmd: 'served' }` answers (and forgets) its own time per
 * non-streamed request so far, by the request's last message (→ `served`); `{ cmd: 'cpu' }` its CPU time so far
 * (→ `cpu`, µs); exits on `{ cmd: 'stop' }`.
 */
import { startFakeChat } from '../../test/support/fake-chat';
import { teacherAnswer } from './gateway-intents';

async function main() {
  // The upstream's own time per request (its delay, as late as its timer fired), by the request's last message.
  let served = new Map<string, number>();
  const upstream = await startFakeChat('upstream', {
    delayMs: Number(process.env.BENCH_UPSTREAM_MS ?? 20),
    record: false,
    onServed: (b, ms) => served.set(String((b.messages as Array<{ content?: unknown }>).at(-1)?.content ?? ''), ms),
  });
  const answer = teacherAnswer();
  upstream.answer = (b) => answer(String(b.messages.at(-1)?.content ?? ''));
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ type: 'cpu', us: u.user + u.system });
    }
    if (m.cmd === 'served') {
      process.send!({ type: 'served', served: Object.fromEntries(served) });
      served = new Map();
    }
    if (m.cmd !== 'stop') return;
    void upstream.close().then(() => process.send!({ type: 'stopped' }, () => process.exit(0)));
  });
  process.send!({ type: 'ready', url: upstream.baseURL });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
