import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export const REPO = path.resolve(import.meta.dirname, '../..');

/** Runs `distillery <args>` as its own process (as a user would), collecting its output. */
export function spawnCli(
  args: string[],
  env: Record<string, string>,
  opts: { detached?: boolean } = {},
): ChildProcess & { output: () => string; waitFor: (re: RegExp, ms?: number) => Promise<void>; exited: Promise<number | null> } {
  const child = spawn(path.join(REPO, 'bin', 'distillery'), args, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return Object.assign(child, {
    output: () => out,
    exited,
    waitFor: (re: RegExp, ms = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(out)) {
            cleanup();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${re} in output:\n${out}`));
        }, ms);
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited before ${re}; output:\n${out}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
  });
}
