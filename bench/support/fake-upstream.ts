/**
 * The gateway benchmark's fake upstream (test/support/fake-chat.ts) as its own process, so that neither the load
 * generator's nor the gateway's event loop also serves the upstream. Answers after `BENCH_UPSTREAM_MS`; sends
 * `{ type: 'ready', url }` over IPC when listening and exits on `{ cmd: 'stop' }`.
 */
import { startFakeChat } from '../../test/support/fake-chat';
import { teacherAnswer } from './gateway-intents';

async function main() {
  const upstream = await startFakeChat('upstream', { delayMs: Number(process.env.BENCH_UPSTREAM_MS ?? 20), record: false });
  const answer = teacherAnswer();
  upstream.answer = (b) => answer(String(b.messages.at(-1)?.content ?? ''));
  process.on('message', (m: { cmd?: string }) => {
    if (m.cmd !== 'stop') return;
    void upstream.close().then(() => process.send!({ type: 'stopped' }, () => process.exit(0)));
  });
  process.send!({ type: 'ready', url: upstream.baseURL });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
