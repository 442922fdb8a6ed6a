/**
 * `make run` / `make stop` (scripts/run.ts) on the real stack: the supervisor starts the four
 * services, they take traffic from a producer, a service that dies is restarted and the
 * records keep arriving, and stop leaves no process behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { produceGeneratedEvents, stack } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import pg from 'pg';

const runId = `run${randomBytes(4).toString('hex')}`;
const runDir = mkdtempSync(join(tmpdir(), `${runId}-`));
const env = {
  ...process.env,
  PF_KAFKA_BROKERS: stack.brokers.join(','),
  PF_REGISTRY_URL: stack.registryUrl,
  PF_PG_URL: stack.pgUrl,
  PF_TOPIC_NAMESPACE: runId,
  PF_PG_SCHEMA: runId,
  PF_COLD_DIR: join(runDir, 'cold'),
  PF_RUN_DIR: runDir,
  PF_RUN_BASE_PORT: String(23_000 + Math.floor(Math.random() * 2_000) * 4),
  PF_LOG_LEVEL: 'warn',
};
const script = new URL('../../scripts/run.ts', import.meta.url).pathname;
const run = (command: string) =>
  spawnSync(process.execPath, [...process.execArgv, script, command], {
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
const pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
const logger = createLogger({ service: 'run-mode-test', level: 'error' });
const kafka = createKafka({ brokers: stack.brokers, clientId: 'run-mode-test', logger });

interface State {
  services: { name: string; pid: number | null; starts: number }[];
}
const state = () => JSON.parse(readFileSync(join(runDir, 'state.json'), 'utf8')) as State;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function rows(ids: readonly string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    const result = await pool
      .query(`SELECT count(DISTINCT id)::int AS n FROM ${runId}.patterns WHERE id = ANY($1::text[])`, [ids])
      .catch(() => ({ rows: [{ n: 0 }] }));
    count = result.rows[0].n;
    if (count >= ids.length) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return count;
}

after(async () => {
  run('stop');
  await pool.query(`DROP SCHEMA IF EXISTS ${runId} CASCADE`).catch(() => {});
  await pool.end();
  rmSync(runDir, { recursive: true, force: true });
});

test('make run keeps the pipeline up for producers, restarts a dead service, and make stop ends it all', async () => {
  const started = run('start');
  assert.equal(started.status, 0, `${started.stdout}\n${started.stderr}`);
  assert.match(started.stdout, /the pipeline is running/);
  const pids = state().services.map((s) => s.pid!);
  assert.equal(pids.length, 4);
  assert.ok(pids.every(alive));

  const topics = topicNames(runId);
  const first = await produceGeneratedEvents({
    kafka,
    registryUrl: stack.registryUrl,
    topics,
    seed: 7,
    count: 600,
  });
  assert.equal(await rows(first.ids, 90_000), first.ids.length);

  // A service that dies is restarted by the supervisor, and traffic keeps flowing.
  const tagger = state().services.find((s) => s.name === 'inference-tagger')!;
  process.kill(tagger.pid!, 'SIGKILL');
  const second = await produceGeneratedEvents({
    kafka,
    registryUrl: stack.registryUrl,
    topics,
    seed: 8,
    count: 600,
  });
  assert.equal(await rows(second.ids, 120_000), second.ids.length);
  const restarted = state().services.find((s) => s.name === 'inference-tagger')!;
  assert.equal(restarted.starts, 2);
  assert.notEqual(restarted.pid, tagger.pid);
  const status = run('status');
  assert.equal(status.status, 0, status.stdout);
  assert.match(status.stdout, /inference-tagger\s+ready .* starts 2, last exit SIGKILL/);

  const stopped = run('stop');
  assert.equal(stopped.status, 0, stopped.stderr);
  const finalPids = [...pids, restarted.pid!];
  assert.ok(
    finalPids.every((pid) => !alive(pid)),
    'no service process is left',
  );
  assert.equal(run('status').status, 3, 'status says not running');
});
