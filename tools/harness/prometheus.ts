/**
 * A real Prometheus next to the Docker-less pipeline (`make run PROMETHEUS=1`, the e2e
 * test): Debian's `prometheus` binary with a configuration generated from
 * ops/prometheus/prometheus.yml — the same rule files, jobs and target labels — whose
 * targets are the ports the four services really listen on, on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { basename, delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The configuration of the compose stack, which the local one is generated from. */
const PROMETHEUS_CONFIG_FILE = join(ROOT, 'ops', 'prometheus', 'prometheus.yml');
/** The Debian package that ships /usr/bin/prometheus (and promtool). */
const PROMETHEUS_APT_PACKAGE = 'prometheus';
const DEBIAN_BINARY = '/usr/bin/prometheus';
/** The job in which Prometheus scrapes itself; every other job's targets carry a `service` label. */
const SELF_JOB = 'prometheus';

/**
 * The prometheus binary: PF_PROMETHEUS_BIN, else `prometheus` on PATH, else Debian's
 * /usr/bin/prometheus. Throws a message that names the package to install.
 */
export function findPrometheus(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const configured = env.PF_PROMETHEUS_BIN?.trim();
  if (configured) {
    if (!isExecutable(configured))
      throw new Error(`PF_PROMETHEUS_BIN=${configured} is not an executable file`);
    return configured;
  }
  const candidates = [
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'prometheus')),
    DEBIAN_BINARY,
  ];
  const found = candidates.find(isExecutable);
  if (found) return found;
  throw new Error(
    `Prometheus is not installed: no prometheus binary on PATH or at ${DEBIAN_BINARY}. ` +
      `Install Debian's package (apt-get install ${PROMETHEUS_APT_PACKAGE}; then 'service prometheus stop', ` +
      'since the packaged server starts on port 9090), or set PF_PROMETHEUS_BIN to a prometheus binary.',
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface LocalPrometheusConfigOptions {
  /** HTTP port of each service, keyed by the `service` label its target has in the real config. */
  servicePorts: Readonly<Record<string, number>>;
  /** The port this Prometheus listens on (127.0.0.1), for the job that scrapes itself. */
  port: number;
  /**
   * Rule files to load instead of the real config's own. The real ones are
   * ops/prometheus/<name> (the compose stack mounts that folder at /etc/prometheus).
   */
  ruleFiles?: readonly string[];
  /** Replaces the real scrape interval (a Prometheus duration, e.g. "1s"). */
  scrapeInterval?: string;
  /** Replaces the real rule evaluation interval. */
  evaluationInterval?: string;
  /** The real configuration's text; ops/prometheus/prometheus.yml when absent. */
  source?: string;
}

interface StaticConfig {
  targets?: string[];
  labels?: Record<string, string>;
}
interface ScrapeConfig {
  job_name: string;
  static_configs?: StaticConfig[];
  [key: string]: unknown;
}
interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs?: ScrapeConfig[];
  [key: string]: unknown;
}

/**
 * The configuration of a local Prometheus, as YAML: the real one with each target moved to
 * 127.0.0.1 and the port its `service` runs on, the rule files resolved to this checkout,
 * and optionally shorter intervals. Anything it cannot place (a target without a
 * `service` label, a service without a port, a port for a service the real config does not
 * scrape, a job it does not know) is an error: the local Prometheus must not silently
 * scrape less than the real one.
 */
export function localPrometheusConfig(options: LocalPrometheusConfigOptions): string {
  const source = options.source ?? readFileSync(PROMETHEUS_CONFIG_FILE, 'utf8');
  const config = parse(source) as PrometheusConfig;
  const global = { ...config.global };
  if (options.scrapeInterval !== undefined) {
    const interval = durationMs(options.scrapeInterval);
    global.scrape_interval = options.scrapeInterval;
    // Prometheus refuses a scrape timeout longer than the interval.
    const timeout = global.scrape_timeout === undefined ? undefined : String(global.scrape_timeout);
    if (timeout === undefined || durationMs(timeout) > interval)
      global.scrape_timeout = options.scrapeInterval;
  }
  if (options.evaluationInterval !== undefined) {
    durationMs(options.evaluationInterval);
    global.evaluation_interval = options.evaluationInterval;
  }

  const ruleFiles = options.ruleFiles
    ? [...options.ruleFiles]
    : (config.rule_files ?? []).map((file) => join(ROOT, 'ops', 'prometheus', basename(file)));
  for (const file of ruleFiles) {
    if (!existsSync(file)) throw new Error(`rule file ${file} does not exist`);
  }

  const placed = new Set<string>();
  const scrapeConfigs = (config.scrape_configs ?? []).map((job) => ({
    ...job,
    static_configs: (job.static_configs ?? []).map((group): StaticConfig => {
      if (job.job_name === SELF_JOB) return { ...group, targets: [`127.0.0.1:${options.port}`] };
      const service = group.labels?.service;
      if (service === undefined) {
        throw new Error(
          `job ${job.job_name} in ${PROMETHEUS_CONFIG_FILE} has targets (${group.targets}) without a service label: cannot tell which local port they are`,
        );
      }
      const port = options.servicePorts[service];
      if (port === undefined)
        throw new Error(`no local port given for service ${service} (job ${job.job_name})`);
      if ((group.targets ?? []).length !== 1) {
        throw new Error(`service ${service} (job ${job.job_name}) must have exactly one target`);
      }
      placed.add(service);
      return { ...group, targets: [`127.0.0.1:${port}`] };
    }),
  }));
  const unplaced = Object.keys(options.servicePorts).filter((service) => !placed.has(service));
  if (unplaced.length > 0) {
    throw new Error(`the real configuration scrapes no service named ${unplaced.join(', ')}`);
  }
  return stringify({ ...config, global, rule_files: ruleFiles, scrape_configs: scrapeConfigs });
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** A Prometheus duration ("15s", "1m30s", "500ms") in milliseconds. */
export function durationMs(duration: string): number {
  if (!/^(?:\d+(?:ms|[smhdwy]))+$/.test(duration)) {
    throw new Error(`"${duration}" is not a Prometheus duration such as 15s, 1m or 500ms`);
  }
  let total = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+)(ms|[smhdwy])/g)) {
    total += Number(amount) * DURATION_UNITS_MS[unit!]!;
  }
  return total;
}

export interface StartPrometheusOptions extends Omit<LocalPrometheusConfigOptions, 'source'> {
  /** Holds prometheus.yml, the TSDB in data/ and prometheus.log. */
  dir: string;
  /** Keep running after this process exits (make run); otherwise it dies with this process. */
  detached?: boolean;
  readyTimeoutMs?: number;
  /** The binary; findPrometheus() when absent. */
  binary?: string;
}

export interface LocalPrometheus {
  readonly url: string;
  readonly pid: number;
  readonly configFile: string;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after 20 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Writes the generated configuration to `dir` and starts Prometheus on 127.0.0.1:`port`,
 * resolving once it answers /-/ready and lists every target. The port must be free: otherwise a Prometheus that
 * is already there (Debian's packaged service, say) would answer for this one.
 */
export async function startPrometheus(options: StartPrometheusOptions): Promise<LocalPrometheus> {
  const binary = options.binary ?? findPrometheus();
  if (await portAnswers(options.port)) {
    throw new Error(
      `127.0.0.1:${options.port} is already in use (Debian's packaged Prometheus? 'service prometheus stop'); choose another port (PF_PROMETHEUS_PORT for make run)`,
    );
  }
  mkdirSync(join(options.dir, 'data'), { recursive: true });
  const configFile = join(options.dir, 'prometheus.yml');
  const logFile = join(options.dir, 'prometheus.log');
  const configText = localPrometheusConfig(options);
  writeFileSync(configFile, configText);
  const targetCount = ((parse(configText) as PrometheusConfig).scrape_configs ?? [])
    .flatMap((job) => job.static_configs ?? [])
    .flatMap((group) => group.targets ?? []).length;
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(options.dir, 'data')}`,
        '--storage.tsdb.retention.time=2d',
        `--web.listen-address=127.0.0.1:${options.port}`,
      ],
      { cwd: options.dir, detached: options.detached ?? false, stdio: ['ignore', log, log] },
    );
  } finally {
    closeSync(log);
  }
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (options.detached) child.unref();
  else process.once('exit', () => child.kill('SIGKILL'));

  const url = `http://127.0.0.1:${options.port}`;
  const api = prometheusApi(url);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (spawnError) throw new Error(`could not start ${binary}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `prometheus exited (${child.exitCode ?? child.signalCode}) at startup:\n${tail(logFile)}`,
      );
    }
    // Ready once it answers and knows every target: its discovery hands static targets to
    // the scrapers only on its next tick (up to 5 s after the start).
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) })
      .then((response) => response.ok)
      .catch(() => false);
    if (ready && (await api.targets().catch(() => [])).length === targetCount) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `prometheus was not ready after ${options.readyTimeoutMs ?? 30_000} ms:\n${tail(logFile)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    pid: child.pid!,
    configFile,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${file})`;
  }
}

/** One sample of an instant vector, as /api/v1/query returns it. */
export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
  value: string;
}

export interface ScrapeTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface AlertingRule {
  name: string;
  query: string;
  duration: number;
  labels: Record<string, string>;
  health: string;
  lastError?: string;
  type: 'alerting' | 'recording';
}

/** The parts of Prometheus's HTTP API (/api/v1) the tools and tests read. */
export interface PrometheusApi {
  /** Evaluates `expression` now; throws Prometheus's own error when it cannot. */
  query(expression: string): Promise<{ resultType: string; result: unknown }>;
  /** Every metric name that has a series in the TSDB. */
  metricNames(): Promise<Set<string>>;
  /** Metric families the targets expose (from their # TYPE / # HELP lines), with or without samples. */
  metadata(): Promise<Map<string, { type: string; help: string }[]>>;
  alerts(): Promise<ActiveAlert[]>;
  rules(): Promise<AlertingRule[]>;
  targets(): Promise<ScrapeTarget[]>;
}

export function prometheusApi(url: string): PrometheusApi {
  async function get<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const query = new URLSearchParams(params).toString();
    const response = await fetch(`${url}/api/v1/${path}${query ? `?${query}` : ''}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success') {
      throw new Error(`Prometheus ${path}${query ? `?${query}` : ''}: ${body.errorType}: ${body.error}`);
    }
    return body.data;
  }
  return {
    query: (expression) => get('query', { query: expression }),
    metricNames: async () => new Set(await get<string[]>('label/__name__/values')),
    metadata: async () =>
      new Map(Object.entries(await get<Record<string, { type: string; help: string }[]>>('metadata'))),
    alerts: async () => (await get<{ alerts: ActiveAlert[] }>('alerts')).alerts,
    rules: async () =>
      (await get<{ groups: { rules: AlertingRule[] }[] }>('rules')).groups.flatMap((group) => group.rules),
    targets: async () => (await get<{ activeTargets: ScrapeTarget[] }>('targets')).activeTargets,
  };
}
