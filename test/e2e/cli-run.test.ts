/**
 * The operator's view of a pipeline under `make run` (scripts/run.ts), through the real
 * `patternflow` bin: status while traffic flows, a canonical record decoded by tail, and a
 * replay of the sink that refuses while it runs, then with --force has the supervisor stop
 * it, moves its group back and starts it again; the sink re-reads and stores nothing twice.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  deleteNamespace,
  metricSum,
  produceGeneratedEvents,
  reservePorts,
  runPatternflow,
  stack,
  uniqueName,
} from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import pg from 'pg';

const namespace = uniqueName('clirun').replace('.', '_');
const runDir = mkdtempSync(join(tmpdir(), 'cli-run-'));
const BASE_PORT = await reservePorts(4);
const env = {
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_PG_URL: stack.pgUrl,
  PF_TOPIC_NAMESPACE: namespace,
  PF_PG_SCHEMA: namespace,
  PF_COLD_DIR: join(runDir, 'cold'),
  PF_RUN_DIR: runDir,
  PF_RUN_BASE_PORT: String(BASE_PORT),
  PF_LOG_LEVEL: 'warn',
};
const script = new URL('../../scripts/run.ts', import.meta.url).pathname;
const run = (command: string) =>
  spawnSync(process.execPath, [script, command], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 180_000,
  });
const cli = (...args: string[]) => runPatternflow(args, env);
const pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
const kafka = createKafka({
  brokers: stack.brokers,
  clientId: 'cli-run-test',
  logger: createLogger({ service: 'cli-run-test', level: 'error' }),
});
const topics = topicNames(namespace);
const sinkMetrics = () => fetch(`http://127.0.0.1:${BASE_PORT + 3}/metrics`).then((r) => r.text());
const rows = async () =>
  (await pool.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${namespace}.patterns`))
    .rows[0] as {
    n: number;
    d: number;
  };

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

before(() => {
  const started = run('start');
  assert.equal(started.status, 0, `${started.stdout}\n${started.stderr}`);
});

after(async () => {
  run('stop');
  await pool.query(`DROP SCHEMA IF EXISTS ${namespace} CASCADE`).catch(() => {});
  await pool.end();
  await deleteNamespace(kafka, namespace, { consumerGroups: true });
  rmSync(runDir, { recursive: true, force: true });
});

test('status, tail and a forced replay of the sink on a running pipeline', async () => {
  // Status while records flow (they flow until it answers): every stage ready, records/s
  // measured, one JSON document.
  const ids = new Set<string>();
  let flowing = true;
  const traffic = (async () => {
    for (let seed = 100; flowing; seed++) {
      const batch = await produceGeneratedEvents({
        kafka,
        registryUrl: stack.registryUrl,
        topics,
        seed,
        count: 20,
      });
      for (const id of batch.ids) ids.add(id);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const status = await cli('status', '--json', '--interval', '1s');
  flowing = false;
  await traffic;
  assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
  const report = JSON.parse(status.stdout);
  assert.deepEqual(
    report.stages.map((s: { state: string }) => s.state),
    ['ready', 'ready', 'ready', 'ready'],
    status.stdout,
  );
  assert.ok(report.stages[0].inPerSecond > 0, `the ingestor takes records in: ${status.stdout}`);
  assert.ok(typeof report.stages[3].lag === 'number');
  assert.deepEqual(report.stages[0].pauseReasons, []);

  const stored = await until('every record stored', async () => {
    const { n } = await rows();
    return n === ids.size ? n : undefined;
  });
  const text = await until('lag back to 0', async () => {
    const result = await cli('status', '--interval', '200ms');
    return result.code === 0 && /^sink +ready +\S+ +\S+ +0 +no /m.test(result.stdout)
      ? result.stdout
      : undefined;
  });
  assert.match(text, /^ingestor +ready /m);

  // tail decodes the pipeline's Avro through the registry.
  const tagged = await cli('tail', 'tagged', '--from-beginning', '--count', '1', '--json');
  assert.equal(tagged.code, 0, tagged.stderr);
  const record = JSON.parse(tagged.stdout);
  assert.equal(record.format, 'avro');
  assert.ok(ids.has(record.value.id));
  assert.equal(typeof record.value.inference.label, 'string');

  // replay: refused while the sink runs; the dry run counts what a replay re-reads.
  const refused = await cli('replay', 'sink', '--from', '10m');
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /sink is running: .*Add --force: make run's supervisor stops it/);
  const dryRun = await cli('replay', 'sink', '--from', '10m', '--dry-run', '--json');
  assert.equal(dryRun.code, 0, dryRun.stderr);
  const plan = JSON.parse(dryRun.stdout);
  assert.equal(plan.records, stored, 'every stored record was read within the last 10 minutes');

  const duplicatesBefore = metricSum(await sinkMetrics(), 'pf_sink_rows_total', 'result="duplicate"');
  const forced = await cli('replay', 'sink', '--from', '10m', '--force');
  assert.equal(forced.code, 0, `${forced.stdout}\n${forced.stderr}`);
  assert.match(forced.stderr, /asked make run's supervisor .* to stop sink/);
  assert.match(forced.stdout, new RegExp(`moved back; ${stored} record\\(s\\) to process again`));
  const state = JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')) as {
    services: { name: string; starts: number; unexpectedExits: number }[];
  };
  const sink = state.services.find((s) => s.name === 'sink');
  assert.equal(sink?.unexpectedExits, 0, 'stopped on request, not crashed');

  // The restarted sink re-reads every record; the table absorbs them all.
  await until('the sink re-read everything', async () => {
    const duplicates = metricSum(await sinkMetrics(), 'pf_sink_rows_total', 'result="duplicate"');
    return duplicates >= duplicatesBefore + stored ? duplicates : undefined;
  });
  assert.deepEqual(await rows(), { n: stored, d: stored });
  const restarted = JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')).services.find(
    (s: { name: string }) => s.name === 'sink',
  );
  assert.equal(restarted.starts, 2);
  assert.equal(restarted.held, false);
});
