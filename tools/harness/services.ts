import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SERVICE_NAMES = ['ingestor', 'inference-tagger', 'priority-router', 'sink'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServiceProcess {
  readonly name: ServiceName;
  readonly httpPort: number;
  child: ChildProcess;
  /** Times the process was (re)started. */
  starts: number;
}

export interface ServiceFleet {
  readonly processes: ReadonlyMap<ServiceName, ServiceProcess>;
  kill(name: ServiceName, signal: NodeJS.Signals): Promise<number | null>;
  start(name: ServiceName): void;
  waitReady(name?: ServiceName, timeoutMs?: number): Promise<void>;
  metrics(name: ServiceName): Promise<string>;
  /** SIGTERM to all, waits for their exit. */
  stop(): Promise<void>;
}

/**
 * Runs the four services as real processes (node services/<name>/src/main.ts),
 * each with its own HTTP port and log file, as the demo, the e2e tests and the benchmark
 * need them.
 */
export function startServices(options: {
  env: Record<string, string>;
  logDir: string;
  basePort: number;
  only?: readonly ServiceName[];
  perService?: Partial<Record<ServiceName, Record<string, string>>>;
}): ServiceFleet {
  mkdirSync(options.logDir, { recursive: true });
  const processes = new Map<ServiceName, ServiceProcess>();
  const names = options.only ?? SERVICE_NAMES;

  const spawnOne = (name: ServiceName, httpPort: number, starts: number): ServiceProcess => {
    const log = createWriteStream(join(options.logDir, `${name}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [join(ROOT, 'services', name, 'src', 'main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...options.env,
        ...options.perService?.[name],
        PF_HTTP_PORT: String(httpPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    return { name, httpPort, child, starts };
  };

  names.forEach((name, i) => {
    processes.set(name, spawnOne(name, options.basePort + i, 1));
  });
  // If whoever started the fleet dies (a test timeout, Ctrl-C), the services go too.
  process.once('exit', () => {
    for (const service of processes.values()) service.child.kill('SIGKILL');
  });

  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('exit', (code) => resolve(code));
    });

  const fleet: ServiceFleet = {
    processes,
    async kill(name, signal) {
      const service = processes.get(name)!;
      service.child.kill(signal);
      return exited(service.child);
    },
    start(name) {
      const previous = processes.get(name)!;
      processes.set(name, spawnOne(name, previous.httpPort, previous.starts + 1));
    },
    async waitReady(name, timeoutMs = 90_000) {
      const targets = name ? [processes.get(name)!] : [...processes.values()];
      const deadline = Date.now() + timeoutMs;
      for (const service of targets) {
        for (;;) {
          if (service.child.exitCode !== null) {
            throw new Error(
              `${service.name} exited with ${service.child.exitCode}; see ${options.logDir}/${service.name}.log`,
            );
          }
          const ok = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)
            .then((r) => r.ok)
            .catch(() => false);
          if (ok) break;
          if (Date.now() > deadline) throw new Error(`${service.name} not ready after ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    },
    async metrics(name) {
      const service = processes.get(name)!;
      const response = await fetch(`http://127.0.0.1:${service.httpPort}/metrics`);
      return response.text();
    },
    async stop() {
      await Promise.all(
        [...processes.values()].map(async (service) => {
          if (service.child.exitCode !== null || service.child.signalCode !== null) return;
          service.child.kill('SIGTERM');
          const timer = setTimeout(() => service.child.kill('SIGKILL'), 30_000);
          await exited(service.child);
          clearTimeout(timer);
        }),
      );
    },
  };
  return fleet;
}

/** Sum of a metric's samples in a Prometheus text exposition, optionally filtered by a label substring. */
export function metricSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !line.includes(labelFilter)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}
