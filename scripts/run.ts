/**
 * The long-running mode (`make run` / `make stop`): the four services on the local stack,
 * supervised (restart with backoff on exit, logs to files), accepting traffic from any
 * producer until stopped.
 *
 *   node scripts/run.ts start       start the supervisor in the background, wait until every service is ready
 *   node scripts/run.ts status      one line per service: pid, ready, starts, last exit
 *   node scripts/run.ts stop        SIGTERM to the supervisor: services drain, commit and exit
 *   node scripts/run.ts supervise   the supervisor itself, in the foreground
 *
 *   PF_RUN_DIR (.stack/run/pipeline)  state, pid and logs;  PF_RUN_BASE_PORT (9464)  first service's HTTP port
 *   PF_SECURE (false; `make run SECURE=1`)  the services use only the stack's secure links: Kafka
 *     SASL_SSL, the https registry with basic auth, PostgreSQL with TLS (`scripts/stack.sh env --secure`)
 *   Every other PF_* variable is passed to the services (PF_TOPIC_NAMESPACE, PF_COLD_DIR, …).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boolean, integer, loadConfig, string } from '@patternflow/config';
import { secureStack } from '@patternflow/harness';
import { STAGES } from '@patternflow/service';
import {
  activeHolds,
  createSupervisor,
  type RunState,
  readRunState,
  runDirPaths,
  runningSupervisorPid,
  writeRunState,
} from '@patternflow/supervisor';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const config = loadConfig({
  runDir: string('PF_RUN_DIR', join(ROOT, '.stack', 'run', 'pipeline')),
  basePort: integer('PF_RUN_BASE_PORT', { default: 9464, min: 1024, max: 65_000 }),
  readyTimeoutMs: integer('PF_RUN_READY_TIMEOUT_MS', { default: 120_000, min: 1_000 }),
  secure: boolean('PF_SECURE', false),
});
/** The link settings that replace the environment's in secure mode (they win over exported ones). */
const linkEnv = (): Record<string, string> => (config.secure ? secureStack().env : {});
const paths = runDirPaths(config.runDir);
const portOf = (index: number) => config.basePort + index;

const supervisorPid = (): number | undefined => runningSupervisorPid(config.runDir);
const readState = (): RunState | undefined => readRunState(config.runDir);

async function ready(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })
    .then((response) => response.ok)
    .catch(() => false);
}

async function supervise(): Promise<void> {
  mkdirSync(paths.logs, { recursive: true });
  writeFileSync(paths.pid, String(process.pid));
  const log = (fields: object, message: string) =>
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields, msg: message })}\n`);
  const services = STAGES.map((name, index) => ({
    name,
    command: process.execPath,
    // The same runtime flags as this process (a TypeScript loader, if one is in use).
    args: [...process.execArgv, join(ROOT, 'services', name, 'src', 'main.ts')],
    env: { ...(process.env as Record<string, string>), ...linkEnv(), PF_HTTP_PORT: String(portOf(index)) },
    logFile: join(paths.logs, `${name}.log`),
    cwd: ROOT,
    httpPort: portOf(index),
  }));
  const supervisor = createSupervisor({
    programs: services,
    onEvent: ({ name, event, detail }) => log({ service: name, event, ...detail }, `${name} ${event}`),
  });
  const startedAt = new Date().toISOString();
  const writeState = () => {
    const states = supervisor.states();
    writeRunState(config.runDir, {
      supervisorPid: process.pid,
      startedAt,
      topicNamespace: process.env.PF_TOPIC_NAMESPACE ?? '',
      services: states.map((s, i) => ({
        ...s,
        httpPort: services[i]!.httpPort,
        logFile: services[i]!.logFile,
      })),
    });
  };
  // Holds are how an operator stops one stage for a while (`patternflow replay --force`):
  // a file per held service in the run folder, void once its holder exits.
  const applyHolds = () => {
    const wanted = new Set(activeHolds(config.runDir).map((hold) => hold.program));
    for (const state of supervisor.states()) {
      if (wanted.has(state.name) && !state.held) {
        supervisor.hold(state.name).then(writeState, (error: unknown) => log({ err: String(error) }, 'hold'));
      } else if (!wanted.has(state.name) && state.held) {
        supervisor.release(state.name);
      }
    }
  };
  let stopping = false;
  supervisor.start();
  writeState();
  const ticker = setInterval(() => {
    if (!stopping) applyHolds();
    writeState();
  }, 500);
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log({ signal }, 'stopping the services');
    await supervisor.stop();
    clearInterval(ticker);
    writeState();
    rmSync(paths.pid, { force: true });
    log({}, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

async function start(): Promise<void> {
  const running = supervisorPid();
  if (running) {
    console.log(`run: already running (supervisor pid ${running}); 'make stop' first`);
    await printStatus();
    return;
  }
  // Before anything starts: no secure settings is a message, not four crash-looping services.
  const links = linkEnv();
  mkdirSync(config.runDir, { recursive: true });
  rmSync(paths.state, { force: true });
  const out = createWriteStream(paths.log, { flags: 'a' });
  await new Promise((resolve) => out.once('open', resolve));
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'supervise'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  child.unref();
  const over = config.secure
    ? `over the secure links (Kafka ${links.PF_KAFKA_BROKERS} SASL_SSL, registry ${links.PF_REGISTRY_URL}, PostgreSQL TLS)`
    : 'over plaintext links';
  console.log(`run: supervisor pid ${child.pid} ${over}; logs in ${paths.logs}`);
  const deadline = Date.now() + config.readyTimeoutMs;
  for (;;) {
    const states = await Promise.all(STAGES.map((_, i) => ready(portOf(i))));
    if (states.every(Boolean)) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await printStatus();
      console.error(`run: not every service is ready after ${config.readyTimeoutMs} ms; see ${paths.logs}`);
      process.exit(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await printStatus();
  console.log("run: the pipeline is running; publish to patterns.ingest.<source>; 'make stop' stops it");
}

async function printStatus(): Promise<boolean> {
  const state = readState();
  const pid = supervisorPid();
  if (!state || !pid) {
    console.log('run: not running');
    return false;
  }
  console.log(`run: supervisor pid ${pid}, since ${state.startedAt}`);
  let allReady = true;
  for (const service of state.services) {
    const isReady = await ready(service.httpPort);
    allReady &&= isReady;
    const exit = service.lastExit
      ? `last exit ${service.lastExit.code ?? service.lastExit.signal} at ${service.lastExit.at}`
      : 'no exit';
    const restart = service.restartAt ? `, restarting at ${service.restartAt}` : '';
    const held = service.held ? ', HELD (stopped on request)' : '';
    console.log(
      `  ${service.name.padEnd(17)} ${isReady ? 'ready    ' : 'NOT READY'} pid ${String(service.pid ?? '-').padEnd(7)} http :${service.httpPort}  starts ${service.starts}, ${exit}${restart}${held}`,
    );
  }
  return allReady;
}

async function stop(): Promise<void> {
  const pid = supervisorPid();
  if (!pid) {
    console.log('run: not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!supervisorPid()) {
      console.log('run: stopped');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  console.error(`run: supervisor ${pid} did not stop in 60 s`);
  process.exit(1);
}

const command = process.argv[2] ?? 'status';
if (command === 'supervise') await supervise();
else if (command === 'start') await start();
else if (command === 'stop') await stop();
else if (command === 'status') process.exit((await printStatus()) ? 0 : 3);
else {
  console.error('usage: run.ts start|status|stop|supervise');
  process.exit(2);
}
