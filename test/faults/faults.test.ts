/**
 * Fault injection against the real stack (`make test-faults`; CI runs the quick mode).
 * A steady load flows through the four services while one fault at a time hits them:
 * services SIGKILLed every few seconds, the broker SIGKILLed, PostgreSQL stopped, the
 * schema registry stopped, the broker links cut and slowed through a TCP proxy, and a
 * second replica of every stage added and removed (rebalances under load). After each:
 * exactly the acknowledged ids in PostgreSQL, no id twice in the cold files, the time to
 * recover, and the services' own exits (the supervisor restarts them as an orchestrator
 * would; the goal is none).
 *
 *   PF_FAULTS_MODE=quick|full (quick)   PF_FAULTS_REPORT (file for the JSON report)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { coldFileIds, deleteNamespace, reservePorts, stack } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { STAGES } from '@patternflow/service';
import { createSupervisor, type Supervisor } from '@patternflow/supervisor';
import pg from 'pg';
import { prepareEvents, type SteadyLoad, sendSteadily } from './load.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MODE = process.env.PF_FAULTS_MODE === 'full' ? 'full' : 'quick';
const SETTINGS = {
  quick: {
    rate: 400,
    killEveryMs: 2_500,
    kills: 6,
    brokerDownMs: 3_000,
    pgStopMs: 10_000,
    registryStopMs: 10_000,
    cutMs: 6_000,
    delayMs: 150,
    delayForMs: 6_000,
    replicaForMs: 12_000,
    tailMs: 4_000,
    recoverTimeoutMs: 180_000,
  },
  full: {
    rate: 800,
    killEveryMs: 3_000,
    kills: 36,
    brokerDownMs: 8_000,
    pgStopMs: 45_000,
    registryStopMs: 45_000,
    cutMs: 20_000,
    delayMs: 300,
    delayForMs: 20_000,
    replicaForMs: 40_000,
    tailMs: 10_000,
    recoverTimeoutMs: 600_000,
  },
}[MODE];

const runId = `faults${randomBytes(3).toString('hex')}`;
const topics = topicNames(runId);
const logDir = join(ROOT, '.stack', 'logs', runId);
const coldDir = mkdtempSync(join(tmpdir(), `${runId}-cold-`));
const proxyPort = Number(process.env.PF_KAFKA_PROXY_PORT ?? 19095);
const faultsListenerPort = Number(process.env.PF_KAFKA_FAULTS_PORT ?? 19094);
// Two replicas of the four stages.
const basePort = await reservePorts(8);
const logger = createLogger({ service: 'faults', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: 'faults-load', logger });
const pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
// PostgreSQL is stopped on purpose: an idle connection it drops is not a test failure.
pool.on('error', () => {});
const stackCommand = (...args: string[]) =>
  execFileSync('bash', [join(ROOT, 'scripts', 'stack.sh'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ the services

interface Replica {
  supervisor: Supervisor;
  /** SIGKILLs sent by the suite, per program, so that self-exits can be told apart. */
  kills: Map<string, number>;
  names: string[];
}

function startReplica(index: number): Replica {
  const names = STAGES.map((stage) => `${stage}-${index}`);
  const programs = STAGES.map((stage, i) => ({
    name: names[i]!,
    command: process.execPath,
    args: [...process.execArgv, join(ROOT, 'services', stage, 'src', 'main.ts')],
    env: {
      ...(process.env as Record<string, string>),
      // Through the proxy: cuts and delays hit every service's broker links.
      PF_KAFKA_BROKERS: `127.0.0.1:${proxyPort}`,
      PF_REGISTRY_URL: stack.registryUrl,
      PF_PG_URL: stack.pgUrl,
      PF_TOPIC_NAMESPACE: runId,
      PF_PG_SCHEMA: runId,
      PF_COLD_DIR: coldDir,
      PF_SINK_INSTANCE_ID: `sink${index}`,
      PF_HTTP_PORT: String(basePort + (index - 1) * 4 + i),
      PF_LOG_LEVEL: 'info',
      // A killed member's partitions wait for its session to expire: 10 s, not 30.
      PF_SESSION_TIMEOUT_MS: '10000',
    },
    logFile: join(logDir, `${names[i]}.log`),
    cwd: ROOT,
  }));
  const supervisor = createSupervisor({
    programs,
    initialBackoffMs: 500,
    maxBackoffMs: 5_000,
  });
  supervisor.start();
  const replica = { supervisor, kills: new Map<string, number>(), names };
  replicas.push(replica);
  return replica;
}

async function waitReady(index: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < STAGES.length; i++) {
    const port = basePort + (index - 1) * 4 + i;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${STAGES[i]}-${index} not ready after ${timeoutMs} ms`);
      await sleep(250);
    }
  }
}

/** SIGKILL to a running program of the base replica set, counted as the suite's own kill. */
function killService(name: string): boolean {
  const pid = base.supervisor.states().find((state) => state.name === name)?.pid;
  if (!pid) return false;
  process.kill(pid, 'SIGKILL');
  base.kills.set(name, (base.kills.get(name) ?? 0) + 1);
  return true;
}

/** Every replica ever started: exits of a removed replica still count. */
const replicas: Replica[] = [];

function selfExits(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const replica of replicas) {
    for (const state of replica.supervisor.states()) {
      const own = state.unexpectedExits - (replica.kills.get(state.name) ?? 0);
      if (own > 0) out[state.name] = own;
    }
  }
  return out;
}

// ------------------------------------------------------------------ checks

async function idsStored(ids: readonly string[]): Promise<number> {
  const { rows } = await pool
    .query(`SELECT count(*)::int AS n FROM ${runId}.patterns WHERE id = ANY($1::text[])`, [ids])
    .catch(() => ({ rows: [{ n: -1 }] }));
  return rows[0].n;
}

async function waitStored(
  ids: readonly string[],
  timeoutMs: number,
): Promise<{ stored: number; ms: number }> {
  const started = Date.now();
  let stored = 0;
  while (Date.now() - started < timeoutMs) {
    stored = await idsStored(ids);
    if (stored === ids.length) break;
    await sleep(500);
  }
  return { stored, ms: Date.now() - started };
}

function coldIdCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of coldFileIds(coldDir)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

// ------------------------------------------------------------------ scenarios

interface ScenarioReport {
  name: string;
  /** Records in the DLQ after the scenario: the load is all valid, so any is a wrong verdict. */
  deadLettered: number;
  sent: number;
  stored: number;
  lost: number;
  duplicatedInColdFiles: number;
  coldMissing: number;
  sendRetries: number;
  recoveryMs: number;
  faults: Record<string, number>;
  selfExits: Record<string, number>;
}

const reports: ScenarioReport[] = [];
let base: Replica;
let proxy: TcpProxy;
let seed = 1;

/** How far behind the producer the pipeline may be and still count as caught up. */
const CAUGHT_UP_WITHIN_MS = 1_000;

/**
 * Recovery: from the end of the fault until the pipeline has caught up with the live
 * producer again — every id acknowledged up to CAUGHT_UP_WITHIN_MS ago is stored. A healthy
 * pipeline reads about CAUGHT_UP_WITHIN_MS; -1 when it never caught up in time.
 */
async function timeToCatchUp(load: SteadyLoad, faultEnd: number): Promise<number> {
  for (;;) {
    const now = Date.now();
    if (now - faultEnd > SETTINGS.recoverTimeoutMs) return -1;
    if (now - CAUGHT_UP_WITHIN_MS >= faultEnd) {
      const ids = load.acked().slice(0, load.ackedAt(now - CAUGHT_UP_WITHIN_MS));
      if ((await idsStored(ids)) === ids.length) return now - faultEnd;
    }
    await sleep(250);
  }
}

/**
 * Runs a steady load for as long as `fault` takes (plus a tail), then checks every
 * acknowledged id, and how long the pipeline took to catch up after the fault.
 */
async function scenario(name: string, fault: () => Promise<Record<string, number>>): Promise<ScenarioReport> {
  const exitsBefore = selfExits();
  const expectedMs = 60_000 + SETTINGS.recoverTimeoutMs;
  // Enough events for the fault and the tail at the offered rate; unsent ones are simply not sent.
  const events = await prepareEvents({
    registryUrl: stack.registryUrl,
    topics,
    seed: seed++,
    count: Math.ceil(SETTINGS.rate * (faultSeconds(name) + SETTINGS.tailMs / 1000 + 2)),
    avroShare: 0.4,
  });
  const load = sendSteadily({ kafka, events, ratePerSecond: SETTINGS.rate, deadlineMs: expectedMs });
  await sleep(1_000);
  const faults = await fault();
  const recoveryMs = await timeToCatchUp(load, Date.now());
  const summary = await load.done;
  const ids = load.acked();
  const { stored } = await waitStored(ids, SETTINGS.recoverTimeoutMs);
  const cold = coldIdCounts();
  const { rows: bulkRows } = await pool.query(
    `SELECT id FROM ${runId}.patterns WHERE id = ANY($1::text[]) AND lane = 'bulk'`,
    [ids],
  );
  const exitsAfter = selfExits();
  const exits: Record<string, number> = {};
  for (const [program, count] of Object.entries(exitsAfter)) {
    const delta = count - (exitsBefore[program] ?? 0);
    if (delta > 0) exits[program] = delta;
  }
  const report: ScenarioReport = {
    name,
    deadLettered: await dlqCount(),
    sent: ids.length,
    stored,
    lost: ids.length - stored,
    duplicatedInColdFiles: ids.filter((id) => (cold.get(id) ?? 0) > 1).length,
    coldMissing: bulkRows.filter((row: { id: string }) => !cold.has(row.id)).length,
    sendRetries: summary.sendRetries,
    recoveryMs,
    faults,
    selfExits: exits,
  };
  reports.push(report);
  console.log(`faults: ${JSON.stringify(report)}`);
  return report;
}

function faultSeconds(name: string): number {
  switch (name) {
    case 'service kills':
      return (SETTINGS.kills * SETTINGS.killEveryMs) / 1000;
    case 'broker SIGKILL':
      return SETTINGS.brokerDownMs / 1000 + 15;
    case 'PostgreSQL stopped':
      return SETTINGS.pgStopMs / 1000 + 5;
    case 'registry stopped':
      return SETTINGS.registryStopMs / 1000 + 15;
    case 'broker links cut and slowed':
      return (SETTINGS.cutMs + SETTINGS.delayForMs) / 1000;
    default:
      return SETTINGS.replicaForMs / 1000 + 30;
  }
}

async function dlqCount(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topics.dlq).catch(() => []);
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

function assertClean(report: ScenarioReport) {
  assert.equal(report.deadLettered, 0, `${report.name}: valid records were dead-lettered`);
  assert.equal(
    report.lost,
    0,
    `${report.name}: ${report.lost} acknowledged records never reached PostgreSQL`,
  );
  assert.equal(report.duplicatedInColdFiles, 0, `${report.name}: ids twice in the cold files`);
  assert.equal(report.coldMissing, 0, `${report.name}: bulk rows missing from the cold files`);
  assert.ok(report.recoveryMs >= 0, `${report.name}: did not recover within ${SETTINGS.recoverTimeoutMs} ms`);
}

describe(`fault injection (${MODE})`, { concurrency: false }, () => {
  before(async () => {
    mkdirSync(logDir, { recursive: true });
    // The broker needs its fault-test listener (advertising the proxy); older stacks get a restart.
    const listening = await fetch(`http://127.0.0.1:${faultsListenerPort}`).then(
      () => true,
      (error: Error & { cause?: { code?: string } }) => error.cause?.code !== 'ECONNREFUSED',
    );
    if (!listening) {
      stackCommand('stop', 'kafka');
      stackCommand('start', 'kafka');
    }
    proxy = await startTcpProxy({ listenPort: proxyPort, targetPort: faultsListenerPort });
    base = startReplica(1);
    await waitReady(1);
  });

  after(async () => {
    await base?.supervisor.stop();
    await proxy?.close();
    const report = { mode: MODE, runId, settings: SETTINGS, scenarios: reports };
    const file = process.env.PF_FAULTS_REPORT ?? join(logDir, 'report.json');
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`faults: report in ${file}`);
    await pool.query(`DROP SCHEMA IF EXISTS ${runId} CASCADE`).catch(() => {});
    await pool.end();
    await deleteNamespace(kafka, runId);
    rmSync(coldDir, { recursive: true, force: true });
  });

  test('services SIGKILLed every few seconds', async () => {
    const report = await scenario('service kills', async () => {
      let kills = 0;
      for (let k = 0; k < SETTINGS.kills; k++) {
        await sleep(SETTINGS.killEveryMs);
        const state = base.supervisor.states().filter((s) => s.pid !== null);
        const victim = state[Math.floor(Math.random() * state.length)];
        if (victim && killService(victim.name)) kills += 1;
      }
      return { serviceKills: kills };
    });
    assertClean(report);
  });

  test('the broker SIGKILLed and restarted', async () => {
    const report = await scenario('broker SIGKILL', async () => {
      stackCommand('kill', 'kafka');
      await sleep(SETTINGS.brokerDownMs);
      stackCommand('start', 'kafka');
      return { brokerKills: 1 };
    });
    assertClean(report);
  });

  test('PostgreSQL stopped, then started', async () => {
    const report = await scenario('PostgreSQL stopped', async () => {
      stackCommand('stop', 'postgres');
      // A sink that restarts now cannot build (no database): it waits, it does not exit.
      await sleep(SETTINGS.pgStopMs / 3);
      killService('sink-1');
      await sleep((SETTINGS.pgStopMs * 2) / 3);
      stackCommand('start', 'postgres');
      return { postgresStops: 1, serviceKills: 1 };
    });
    assertClean(report);
  });

  test('the schema registry stopped, then started', async () => {
    const report = await scenario('registry stopped', async () => {
      stackCommand('stop', 'registry');
      // A tagger that restarts now has no schema cached: it must wait for the registry,
      // neither dead-letter records whose writer schema it has not seen nor exit.
      await sleep(SETTINGS.registryStopMs / 3);
      killService('inference-tagger-1');
      await sleep((SETTINGS.registryStopMs * 2) / 3);
      stackCommand('start', 'registry');
      return { registryStops: 1, serviceKills: 1 };
    });
    assertClean(report);
  });

  test('broker links cut, then slowed, through a TCP proxy', async () => {
    const report = await scenario('broker links cut and slowed', async () => {
      await proxy.cut(SETTINGS.cutMs);
      proxy.setDelay(SETTINGS.delayMs);
      await sleep(SETTINGS.delayForMs);
      proxy.setDelay(0);
      return { linkCuts: 1, linkDelays: 1 };
    });
    assertClean(report);
  });

  test('a second replica of every stage added and removed under load', async () => {
    const report = await scenario('replicas added and removed', async () => {
      const second = startReplica(2);
      await waitReady(2);
      await sleep(SETTINGS.replicaForMs);
      await second.supervisor.stop();
      return { replicasAdded: 4, replicasRemoved: 4 };
    });
    assertClean(report);
  });
});
