/**
 * A real Prometheus for the pipeline of `make run` (`make run PROMETHEUS=1`, `make prometheus`):
 * Debian's prometheus binary, its configuration generated from ops/prometheus/prometheus.yml
 * (same rule file ops/prometheus/alerts.yml, same job and labels) with the services' real
 * ports as targets, listening on 127.0.0.1. `make stop` and `make down` stop it.
 *
 *   node scripts/prometheus.ts start    start it in the background, wait until it is ready
 *   node scripts/prometheus.ts status   pid, URL, and the health of each scrape target (exit 3 when not running)
 *   node scripts/prometheus.ts stop     SIGTERM, then SIGKILL after 20 s
 *
 *   PF_RUN_DIR (.stack/run/pipeline)  the run of `make run`; Prometheus keeps its config, TSDB and log in <run dir>/prometheus
 *   PF_RUN_BASE_PORT (9464)           the services' first port, when the run has not recorded its ports
 *   PF_PROMETHEUS_PORT (9090)         where Prometheus listens
 *   PF_PROMETHEUS_INTERVAL (5s)       scrape and rule evaluation interval (the compose stack's is 15s)
 *   PF_PROMETHEUS_BIN                 the binary, when it is not `prometheus` on PATH or /usr/bin/prometheus
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { integer, loadConfig, port, string } from '@patternflow/config';
import { prometheusApi, startPrometheus } from '@patternflow/harness';
import { STAGES } from '@patternflow/service';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const config = loadConfig({
  runDir: string('PF_RUN_DIR', join(ROOT, '.stack', 'run', 'pipeline')),
  basePort: integer('PF_RUN_BASE_PORT', { default: 9464, min: 1024, max: 65_000 }),
  port: port('PF_PROMETHEUS_PORT', 9090),
  interval: string('PF_PROMETHEUS_INTERVAL', '5s'),
});
const dir = join(config.runDir, 'prometheus');
const pidFile = join(dir, 'prometheus.pid');
const url = `http://127.0.0.1:${config.port}`;

/** The pid of our Prometheus, if it runs: the recorded pid, alive, and running our config. */
function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A pid from an earlier boot may now belong to another process.
  const cmdline = `/proc/${pid}/cmdline`;
  if (existsSync(cmdline) && !readFileSync(cmdline, 'utf8').includes(join(dir, 'prometheus.yml'))) {
    return undefined;
  }
  return pid;
}

/** The port of each service: as the run recorded them, else as run.ts assigns them. */
function servicePorts(): Record<string, number> {
  const state = join(config.runDir, 'state.json');
  if (existsSync(state)) {
    const { services } = JSON.parse(readFileSync(state, 'utf8')) as {
      services: { name: string; httpPort: number }[];
    };
    return Object.fromEntries(services.map((service) => [service.name, service.httpPort]));
  }
  return Object.fromEntries(STAGES.map((stage, index) => [stage, config.basePort + index]));
}

async function start(): Promise<void> {
  const running = runningPid();
  if (running) {
    console.log(`prometheus: already running (pid ${running})`);
    await status();
    return;
  }
  const ports = servicePorts();
  const prometheus = await startPrometheus({
    dir,
    port: config.port,
    servicePorts: ports,
    scrapeInterval: config.interval,
    evaluationInterval: config.interval,
    detached: true,
  });
  writeFileSync(pidFile, String(prometheus.pid));
  console.log(
    `prometheus: pid ${prometheus.pid}, ${prometheus.url}, scraping ${Object.entries(ports)
      .map(([service, servicePort]) => `${service} :${servicePort}`)
      .join(', ')} every ${config.interval}; rules ops/prometheus/alerts.yml; log ${prometheus.logFile}`,
  );
}

async function status(): Promise<boolean> {
  const pid = runningPid();
  if (!pid) {
    console.log('prometheus: not running');
    return false;
  }
  const api = prometheusApi(url);
  const [targets, rules] = await Promise.all([api.targets(), api.rules()]);
  console.log(`prometheus: pid ${pid}, ${url}, ${rules.length} rules loaded`);
  for (const target of targets.sort((a, b) => a.scrapeUrl.localeCompare(b.scrapeUrl))) {
    const error = target.lastError ? ` (${target.lastError})` : '';
    console.log(
      `  ${(target.labels.service ?? target.labels.job)!.padEnd(17)} ${target.health.padEnd(7)} ${target.scrapeUrl}${error}`,
    );
  }
  return true;
}

async function stop(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    console.log('prometheus: not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (alive()) {
    process.kill(pid, 'SIGKILL');
    console.error(`prometheus: pid ${pid} did not stop in 20 s; killed`);
  } else {
    console.log('prometheus: stopped');
  }
  rmSync(pidFile, { force: true });
}

const command = process.argv[2] ?? 'status';
try {
  if (command === 'start') await start();
  else if (command === 'stop') await stop();
  else if (command === 'status') process.exit((await status()) ? 0 : 3);
  else {
    console.error('usage: prometheus.ts start|status|stop');
    process.exit(2);
  }
} catch (error) {
  console.error(`prometheus: ${(error as Error).message}`);
  process.exit(1);
}
