import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Local servers the project runs itself: the Temporal dev server and SeaweedFS, both from the project venv
 * (scripts/setup). Used by `distillery dev`, `distillery demo` and the test setup, so there is one way to start them.
 */
export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Waits until something accepts connections on the port, failing early if the process dies. */
export async function waitForPort(port: number, child: ChildProcess, name: string, timeoutMs = 60_000, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before listening on ${port}${logFile ? `; see ${logFile}` : ''}`);
    if (await isListening(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000}s${logFile ? `; see ${logFile}` : ''}`);
}

function requireBinary(bin: string, what: string): void {
  if (!existsSync(bin)) throw new Error(`${what} not found at ${bin}: run scripts/setup (it installs it into the project venv)`);
}

function launch(name: string, bin: string, args: string[], logFile: string): ManagedProcess {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', out, out] });
  return {
    name,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(killer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

export interface TemporalDevServer extends ManagedProcess {
  address: string;
  uiPort?: number;
}

/** `temporal server start-dev` on loopback; `dbFile` persists history across restarts (omit for in-memory). */
export async function startTemporalDevServer(opts: {
  cliPath: string;
  port: number;
  uiPort?: number;
  dbFile?: string;
  logFile: string;
}): Promise<TemporalDevServer> {
  requireBinary(opts.cliPath, 'Temporal CLI');
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  else args.push('--headless');
  if (opts.dbFile) {
    mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  const proc = launch('temporal', opts.cliPath, args, opts.logFile);
  try {
    await waitForPort(opts.port, proc.child, 'temporal server', 60_000, opts.logFile);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { ...proc, address: `127.0.0.1:${opts.port}`, uiPort: opts.uiPort };
}

export interface SeaweedServer extends ManagedProcess {
  endpoint: string;
}

/**
 * SeaweedFS master + volume + filer + S3 gateway in one process, all on loopback; no auth (no identities). Its
 * internal ports (and their gRPC twins at port+10000) are picked free just before the start, which another process
 * can still race: a start that dies before listening is retried with fresh ports.
 */
export async function startSeaweed(opts: { weedPath: string; dir: string; s3Port: number; logFile: string }): Promise<SeaweedServer> {
  requireBinary(opts.weedPath, 'SeaweedFS (weed)');
  mkdirSync(opts.dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const [master, volume, filer] = [await freePort(), await freePort(), await freePort()];
    const args = [
      'server',
      `-dir=${opts.dir}`,
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${master}`,
      `-volume.port=${volume}`,
      '-filer',
      `-filer.port=${filer}`,
      '-s3',
      `-s3.port=${opts.s3Port}`,
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      '-master.volumeSizeLimitMB=256',
      '-volume.max=0',
    ];
    const proc = launch('seaweedfs', opts.weedPath, args, opts.logFile);
    try {
      await waitForPort(opts.s3Port, proc.child, 'seaweedfs s3', 60_000, opts.logFile);
      return { ...proc, endpoint: `http://127.0.0.1:${opts.s3Port}` };
    } catch (err) {
      await proc.stop();
      if (attempt >= 3 || !/exited/.test((err as Error).message)) throw err;
    }
  }
}

/** The project venv's bin directory (scripts/setup creates it). */
export function venvBin(name: string, root = process.cwd()): string {
  return path.join(root, '.venv', 'bin', name);
}
