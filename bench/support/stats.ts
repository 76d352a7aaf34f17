import { readFileSync, readdirSync } from 'node:fs';

/** Exact percentiles over recorded samples (benchmarks record at most a few hundred thousand values). */
export interface Summary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    min: sorted.length ? sorted[0]! : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** `12.3` with the given decimals, `-` for NaN. */
export function fmt(n: number, decimals = 1): string {
  return Number.isFinite(n) ? n.toFixed(decimals) : '-';
}

export function fmtSummary(s: Summary, unit = 'ms'): string {
  return `p50 ${fmt(s.p50)} / p90 ${fmt(s.p90)} / p99 ${fmt(s.p99)} / p99.9 ${fmt(s.p999)} / max ${fmt(s.max)} ${unit} (n=${s.count}, mean ${fmt(s.mean)})`;
}

/**
 * Whole-machine CPU time from /proc/stat (Linux): busy, waiting on I/O (idle with I/O pending), stolen by the
 * hypervisor (counted in busy), total; undefined elsewhere.
 */
export function machineCpuTicks(): { busy: number; iowait: number; steal: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const iowait = f[4] ?? 0;
    const idle = (f[3] ?? 0) + iowait;
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - idle, iowait, steal: f[7] ?? 0, total };
  } catch {
    return undefined;
  }
}

/** A process as /proc shows it; `ticks` is its own user + system time, `childTicks` that of children it reaped. */
export interface ProcCpu {
  pid: number;
  comm: string;
  cmdline: string;
  ticks: number;
  childTicks: number;
}

/**
 * The live processes whose command name passes `match`, with their CPU ticks (1/100 s on Linux) from
 * /proc/<pid>/stat and command line; undefined where there is no /proc.
 */
export function procCpuSnapshot(match: (comm: string) => boolean): ProcCpu[] | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  const out: ProcCpu[] = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      if (!match(comm)) continue;
      const f = stat.slice(close + 2).split(' ');
      out.push({
        pid: Number(pid),
        comm,
        cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(),
        ticks: Number(f[11]) + Number(f[12]), // utime, stime
        childTicks: Number(f[13]) + Number(f[14]), // cutime, cstime
      });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}
