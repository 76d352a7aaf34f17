import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Activities of the `distillery-gpu` queue. Training and student inference join them in the distillation issue;
 * `describeRunner` lets a workflow see which runner (GPU or CPU) picked up the queue and what it has.
 */
export function createGpuActivities() {
  return {
    async describeRunner(): Promise<{ hostname: string; cpus: number; memoryGiB: number; gpus: string[] }> {
      let gpus: string[] = [];
      try {
        const { stdout } = await run('nvidia-smi', ['-L'], { timeout: 10_000 });
        gpus = stdout.split('\n').filter((l) => l.startsWith('GPU '));
      } catch {
        gpus = []; // no NVIDIA driver: a CPU runner
      }
      return { hostname: os.hostname(), cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), gpus };
    },
  };
}
