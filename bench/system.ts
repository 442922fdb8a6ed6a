/**
 * What the benchmark reads from the machine: the facts recorded with every result, and
 * per-process CPU time and memory from /proc (Linux).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MachineFacts {
  cores: number;
  memoryGiB: number;
  cpuModel: string;
  kernel: string;
  node: string;
  kafka: string | null;
  packages: Record<string, string | null>;
  gitCommit: string | null;
  gitDirty: boolean | null;
  /** sha256 of `git diff HEAD` over the code the services run (libs, services, models, policies). */
  codeFingerprint: string | null;
  loadAverage: number[];
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  const pom = readIfExists(join(ROOT, 'stack', 'pom.xml'));
  const packages: Record<string, string | null> = {};
  for (const name of ['kafkajs', 'avsc', 'onnxruntime-node', 'pg', '@kafkajs/confluent-schema-registry']) {
    const text = readIfExists(join(ROOT, 'node_modules', name, 'package.json'));
    packages[name] = text ? (JSON.parse(text) as { version: string }).version : null;
  }
  return {
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    kafka: pom?.match(/<kafka\.version>([^<]+)</)?.[1] ?? null,
    packages,
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirty: (() => {
      const status = git(['status', '--porcelain']);
      return status === null ? null : status.length > 0;
    })(),
    codeFingerprint: codeFingerprint(),
    loadAverage: loadAverage(),
  };
}

/**
 * The commit plus a hash of the uncommitted changes to what the services run: compared at
 * the start and the end of a run, it shows whether the code changed while it ran.
 */
export function codeFingerprint(): string | null {
  const head = git(['rev-parse', 'HEAD']);
  const diff = git(['diff', 'HEAD', '--', 'libs', 'services', 'models', 'policies', 'schemas']);
  if (head === null || diff === null) return null;
  return `${head.slice(0, 12)}:${createHash('sha256').update(diff).digest('hex').slice(0, 12)}`;
}

export function loadAverage(): number[] {
  return os.loadavg().map((value) => Math.round(value * 100) / 100);
}

/** The broker's pid as the Docker-less stack recorded it, when that process is alive. */
export function kafkaBrokerPid(): number | undefined {
  const text = readIfExists(join(ROOT, '.stack', 'run', 'kafka.pid'));
  const pid = text ? Number(text.trim()) : Number.NaN;
  return Number.isInteger(pid) && existsSync(`/proc/${pid}/stat`) ? pid : undefined;
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in seconds; undefined when it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  const text = readIfExists(`/proc/${pid}/stat`);
  if (!text) return undefined;
  // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of stat(5); fields[0] is field 3.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Current and peak resident set size (VmRSS, VmHWM) in bytes. */
export function memory(pid: number): { rssBytes: number; peakRssBytes: number } | undefined {
  const text = readIfExists(`/proc/${pid}/status`);
  if (!text) return undefined;
  const kib = (key: string) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/** CPU seconds of several processes at one instant. */
export function cpuSnapshot(pids: ReadonlyMap<string, number>): Map<string, number> {
  const snapshot = new Map<string, number>();
  for (const [name, pid] of pids) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) snapshot.set(name, seconds);
  }
  return snapshot;
}

/** Per-process CPU seconds spent between two snapshots. */
export function cpuDelta(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, end] of after) {
    const start = before.get(name);
    if (start !== undefined) delta[name] = round(end - start, 2);
  }
  return delta;
}

/**
 * Polls VmHWM of a set of processes (a process's own peak RSS since it started) and keeps
 * the largest value seen, so that a process that exits still has its peak recorded.
 */
export class PeakRssTracker {
  readonly #peaks = new Map<string, number>();
  readonly #pids: () => ReadonlyMap<string, number>;
  #timer: NodeJS.Timeout | undefined;

  constructor(pids: () => ReadonlyMap<string, number>) {
    this.#pids = pids;
  }

  sample(): void {
    for (const [name, pid] of this.#pids()) {
      const mem = memory(pid);
      if (mem) this.#peaks.set(name, Math.max(this.#peaks.get(name) ?? 0, mem.peakRssBytes, mem.rssBytes));
    }
  }

  start(intervalMs = 1000): this {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
    return this;
  }

  stop(): Record<string, number> {
    if (this.#timer) clearInterval(this.#timer);
    this.sample();
    const mib: Record<string, number> = {};
    for (const [name, bytes] of this.#peaks) mib[name] = round(bytes / 2 ** 20, 1);
    return mib;
  }
}

export function round(value: number, digits = 0): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}
