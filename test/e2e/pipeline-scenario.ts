/**
 * The pipeline end to end: the real broker, registry and PostgreSQL, and the four services
 * as separate processes. Each run has its own topic namespace, PostgreSQL schema and cold
 * directory, so runs never see each other's records. The scenarios run over the links they
 * are given: pipeline.test.ts runs all of them over plaintext, pipeline-secure.test.ts some
 * of them over TLS and SASL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes } from '@patternflow/errors';
import {
  coldFileIds,
  deleteNamespace,
  metricSum,
  produceGeneratedEvents,
  readTopic,
  reservePorts,
  type ServiceFleet,
  startServices,
} from '@patternflow/harness';
import { createKafka, DeadLetterHeaders, type KafkaSecurity } from '@patternflow/kafka';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  listModelVersions,
  readPublicKey,
} from '@patternflow/models';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import type { RegistryLink } from '@patternflow/registry';
import { linkConfigSpec, postgresConfigSpec } from '@patternflow/service';
import type { Kafka } from 'kafkajs';
import pg from 'pg';

const LABELS = new Set(['legit', 'fraud', 'normal', 'account_takeover']);
/** The versions of the repo's store (one per model today): what the tagger serves. */
const servedModels = new Map(
  (await listModelVersions(DEFAULT_MODEL_STORE, readPublicKey(DEV_PUBLIC_KEY_PATH))).map((v) => [v.name, v]),
);
/** Every variable that says how to reach Kafka, the registry or PostgreSQL. */
const LINK_VARIABLES = Object.values({ ...linkConfigSpec(), ...postgresConfigSpec() }).map(
  (field) => field.variable,
);

/** How the services and the test's own clients reach the stack. */
export interface PipelineLinks {
  /** PF_* variables of the links, for the services. */
  env: Record<string, string>;
  kafka: { brokers: readonly string[]; security: KafkaSecurity };
  registry: RegistryLink;
  /** pg Pool options of PostgreSQL (the test's own queries). */
  pg: pg.PoolConfig;
}

export const SCENARIOS = ['generated', 'malformed', 'hostile', 'stalled', 'killed'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What a file can add to the run: more tests, with the run's services and names. */
export interface PipelineRun {
  readonly runId: string;
  readonly schema: string;
  readonly logDir: string;
  fleet(): ServiceFleet;
  pool(): pg.Pool;
}

/**
 * Registers the end-to-end suite: the four services over `links`, then the `scenarios`
 * chosen, then `more` (tests of the caller's own, e.g. about the links).
 */
export function describePipeline(options: {
  title: string;
  links: PipelineLinks;
  scenarios: readonly Scenario[];
  more?: (run: PipelineRun) => void;
}): void {
  const { links } = options;
  const runId = `e2e${randomBytes(4).toString('hex')}`;
  const topics = topicNames(runId);
  const schema = runId;
  const coldDir = mkdtempSync(join(tmpdir(), `${runId}-cold-`));
  const logDir = join(process.cwd(), '.stack', 'logs', runId);
  const logger = createLogger({ service: 'e2e', level: 'error' });
  const runs = (scenario: Scenario) => options.scenarios.includes(scenario);

  let kafka: Kafka;
  let pool: pg.Pool;
  let fleet: ServiceFleet;

  async function rowCount(ids: readonly string[]): Promise<number> {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM ${schema}.patterns WHERE id = ANY($1::text[])`,
      [ids],
    );
    return rows[0].n;
  }

  async function waitForRows(ids: readonly string[], timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let count = 0;
    while (Date.now() < deadline) {
      count = await rowCount(ids).catch(() => 0);
      if (count >= ids.length) return count;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return count;
  }

  const coldIds = () => coldFileIds(coldDir);

  async function produceRaw(topic: string, values: (Buffer | null)[]) {
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: values.map((value, i) => ({ key: `bad-${i}`, value, headers: { 'x-test': `bad-${i}` } })),
    });
    await producer.disconnect();
  }

  function load(seed: number, count: number, ratePerSecond?: number) {
    return produceGeneratedEvents({
      kafka,
      registryUrl: links.registry.url,
      registry: links.registry,
      topics,
      seed,
      count,
      avroShare: 0.4,
      ...(ratePerSecond ? { ratePerSecond } : {}),
    });
  }

  describe(options.title, { timeout: 900_000 }, () => {
    before(async () => {
      kafka = createKafka({ ...links.kafka, clientId: runId, logger, clientLogLevel: 'error' });
      pool = new pg.Pool({ ...links.pg, max: 2 });
      // A topic of a source that has no pack: its records must end in the DLQ.
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: topics.ingest('mystery'), numPartitions: 1 }],
      });
      await admin.disconnect();
      fleet = startServices({
        logDir,
        basePort: await reservePorts(4),
        env: {
          // Only the links given: a link variable exported in the shell running the tests is blanked.
          ...Object.fromEntries(LINK_VARIABLES.map((variable) => [variable, ''])),
          ...links.env,
          PF_PG_SCHEMA: schema,
          PF_COLD_DIR: coldDir,
          PF_TOPIC_NAMESPACE: runId,
          PF_LOG_LEVEL: 'info',
          PF_MAX_VALUE_BYTES: '65536',
          PF_PAUSE_WHEN_BACKLOG_ABOVE: '3000',
          PF_RESUME_WHEN_BACKLOG_BELOW: '1000',
          PF_BACKLOG_CHECK_MS: '250',
          PF_SESSION_TIMEOUT_MS: '15000',
        },
      });
      await fleet.waitReady();
    });

    after(async () => {
      await fleet?.stop();
      // before() may have failed before the clients existed
      if (kafka === undefined || pool === undefined) return;
      await deleteNamespace(kafka, runId);
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
      await pool.end();
      rmSync(coldDir, { recursive: true, force: true });
    });

    if (runs('generated'))
      test('N generated events (JSON and Avro, three sources) make exactly N rows, labelled by the models, and bulk files with each id once', async () => {
        const sent = await load(1001, 3000);
        assert.equal(sent.sent, 3000);
        assert.ok(sent.avro > 1000 && sent.json > 1000, `a real mix: ${sent.avro} Avro, ${sent.json} JSON`);
        assert.equal(new Set(sent.ids).size, sent.ids.length, 'generated ids are unique');

        assert.equal(await waitForRows(sent.ids, 180_000), sent.ids.length);
        const { rows } = await pool.query(
          `SELECT source, label, lane, model_name, model_version, model_sha256, count(*)::int AS n FROM ${schema}.patterns WHERE id = ANY($1::text[]) GROUP BY 1, 2, 3, 4, 5, 6`,
          [sent.ids],
        );
        const total = rows.reduce((sum, row) => sum + row.n, 0);
        assert.equal(total, 3000, 'every id exactly once');
        assert.deepEqual(new Set(rows.map((row) => row.source)), new Set(Object.keys(sent.bySource)));
        for (const row of rows) {
          assert.ok(row.model_name, 'every row names its model');
          // name, version and sha256 of the signed store version that labelled it
          const served = servedModels.get(row.model_name);
          assert.deepEqual(
            [row.model_version, row.model_sha256],
            [served?.version, served?.sha256],
            row.model_name,
          );
          if (row.source !== 'netflow')
            assert.ok(LABELS.has(row.label), `label ${row.label} is a model label`);
        }
        assert.ok(new Set(rows.map((row) => row.lane)).size >= 2, 'traffic reaches several lanes');

        const bulk = await pool.query(
          `SELECT id FROM ${schema}.patterns WHERE lane = 'bulk' AND id = ANY($1::text[])`,
          [sent.ids],
        );
        const files = coldIds();
        assert.equal(files.length, new Set(files).size, 'no id twice in the cold files');
        assert.deepEqual(
          new Set(files),
          new Set(bulk.rows.map((row) => row.id)),
          'the bulk lane files hold exactly the bulk rows',
        );
      });

    if (runs('malformed'))
      test('malformed input of every kind goes to the DLQ with its reason; the valid records around it are unaffected', async () => {
        const before = (await load(2002, 200)).ids;
        const pay = topics.ingest('payments');
        await produceRaw(pay, [
          Buffer.from('{"not json'),
          Buffer.from(JSON.stringify({ hello: 'world' })),
          Buffer.from('x'.repeat(70_000)),
          Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]),
          null,
        ]);
        await produceRaw(topics.ingest('mystery'), [Buffer.from('{}')]);
        const afterIds = (await load(2003, 200)).ids;

        const dead = await readTopic(kafka, topics.dlq, 6);
        const reasons = dead.map((record) => record.headers[DeadLetterHeaders.reason]).sort();
        assert.deepEqual(
          reasons,
          [
            ErrorCodes.VALUE_NOT_DECODABLE,
            ErrorCodes.MISSING_FIELD,
            ErrorCodes.VALUE_OVERSIZED,
            ErrorCodes.UNKNOWN_SCHEMA_ID,
            ErrorCodes.VALUE_EMPTY,
            ErrorCodes.UNKNOWN_SOURCE,
          ].sort(),
        );
        for (const record of dead) {
          assert.equal(record.headers[DeadLetterHeaders.stage], 'ingestor');
          assert.match(record.headers['x-test'] ?? '', /^bad-\d$/, 'original headers are kept');
          assert.ok(record.headers[DeadLetterHeaders.message], 'a specific message');
          assert.match(record.headers[DeadLetterHeaders.sourceOffset] ?? '', /^\d+$/);
        }
        const notJson = dead.find(
          (r) => r.headers[DeadLetterHeaders.reason] === ErrorCodes.VALUE_NOT_DECODABLE,
        )!;
        assert.equal(String(notJson.value), '{"not json', 'the original bytes are kept');

        const all = [...before, ...afterIds];
        assert.equal(await waitForRows(all, 120_000), all.length);
        for (const service of fleet.processes.values()) {
          assert.equal(service.starts, 1, `${service.name} never restarted`);
          assert.equal(service.child.exitCode, null, `${service.name} still running`);
        }
      });

    if (runs('hostile'))
      test('1 000 hostile records between valid ones: every valid record lands, every hostile one is dead-lettered with its reason, no restart', async () => {
        const hostile = hostileValues(1_000);
        const valid: string[] = [];
        for (let round = 0; round < 5; round++) {
          valid.push(...(await load(5000 + round, 120)).ids);
          const slice = hostile.slice(round * 200, (round + 1) * 200);
          const producer = kafka.producer({ allowAutoTopicCreation: false });
          await producer.connect();
          await producer.send({
            topic: topics.ingest(['payments', 'auth', 'netflow'][round % 3]!),
            messages: slice.map(({ index, value }) => ({
              key: `hostile-${index}`,
              value,
              headers: { 'x-hostile': String(index) },
            })),
          });
          await producer.disconnect();
        }
        valid.push(...(await load(5010, 120)).ids);

        const dead = (await readTopic(kafka, topics.dlq, 6 + hostile.length, { timeoutMs: 180_000 })).filter(
          (record) => record.headers['x-hostile'] !== undefined,
        );
        assert.equal(new Set(dead.map((record) => record.headers['x-hostile'])).size, hostile.length);
        const codes: ReadonlySet<string> = new Set(Object.values(ErrorCodes));
        const reasons = new Map<string, number>();
        for (const record of dead) {
          const reason = record.headers[DeadLetterHeaders.reason] ?? '';
          assert.ok(codes.has(reason), `a known reason code, got "${reason}"`);
          assert.ok(record.headers[DeadLetterHeaders.message], 'a specific message');
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        }
        assert.ok(
          !reasons.has(ErrorCodes.RECORD_UNEXPECTED),
          `every hostile value has a specific reason: ${[...reasons]}`,
        );
        assert.equal(await waitForRows(valid, 180_000), valid.length);
        for (const service of fleet.processes.values()) {
          assert.equal(service.starts, 1, `${service.name} never restarted`);
          assert.equal(service.child.exitCode, null, `${service.name} still running`);
        }
      });

    if (runs('stalled'))
      test('with the sink stalled, the router pauses its normal lane, memory stays bounded, and everything drains after', async () => {
        const locker = await pool.connect();
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${schema}.patterns IN EXCLUSIVE MODE`);
        let released = false;
        const release = async () => {
          if (released) return;
          released = true;
          await locker.query('COMMIT');
          locker.release();
        };
        try {
          const sent = await load(3003, 20_000);
          // The router pauses its normal lane once the backlog in front of the stalled sink
          // passes the limit. The tagger and the ingestor are held back by the expedited lane
          // only (docs/architecture.md#priority-under-overload), which the router still reads:
          // they keep going, and the normal lane's backlog waits on patterns.tagged.
          const deadline = Date.now() + 120_000;
          let pausedStages: string[] = [];
          while (Date.now() < deadline) {
            pausedStages = [];
            for (const name of ['ingestor', 'inference-tagger', 'priority-router'] as const) {
              if (metricSum(await fleet.metrics(name), 'pf_consumer_paused') === 1) pausedStages.push(name);
            }
            if (pausedStages.includes('priority-router')) break;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
          assert.ok(pausedStages.includes('priority-router'), `router paused (paused: ${pausedStages})`);
          assert.ok(
            !pausedStages.includes('inference-tagger') && !pausedStages.includes('ingestor'),
            `the stages before the router are not held by the normal lane's backlog (paused: ${pausedStages})`,
          );
          for (const name of ['ingestor', 'inference-tagger', 'priority-router', 'sink'] as const) {
            const rss = metricSum(await fleet.metrics(name), 'process_resident_memory_bytes');
            assert.ok(
              rss > 0 && rss < 600 * 1024 * 1024,
              `${name} RSS ${Math.round(rss / 1048576)} MiB stays bounded`,
            );
          }
          assert.equal(await rowCount(sent.ids), 0, 'nothing was written while the table was locked');
          await release();
          assert.equal(
            await waitForRows(sent.ids, 300_000),
            sent.ids.length,
            'everything drains after the stall',
          );
        } finally {
          await release();
        }
      });

    if (runs('killed'))
      test('a service killed with SIGKILL mid-stream and restarted: still exactly N distinct rows', async () => {
        const loading = load(4004, 6000, 1500);
        for (const name of ['inference-tagger', 'sink', 'ingestor', 'priority-router'] as const) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          await fleet.kill(name, 'SIGKILL');
          fleet.start(name);
        }
        const sent = await loading;
        await fleet.waitReady(undefined, 120_000);
        assert.equal(await waitForRows(sent.ids, 300_000), sent.ids.length);
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM ${schema}.patterns WHERE id = ANY($1::text[])`,
          [sent.ids],
        );
        assert.deepEqual(rows[0], { n: sent.ids.length, d: sent.ids.length });
        const files = coldIds();
        assert.equal(files.length, new Set(files).size, 'no id twice in the cold files after the kills');
      });

    // After the scenarios: the caller's tests see what they left (logs, connections).
    options.more?.({ runId, schema, logDir, fleet: () => fleet, pool: () => pool });
  });
}

/**
 * Values a producer must never be able to stop the pipeline with, each certain to be
 * refused: deep, wide, long, prototype keys, wrong types, bad UTF-8, broken Confluent
 * frames, empty and null. Deterministic: value i is always the same.
 */
function hostileValues(count: number): { index: number; value: Buffer | null }[] {
  const families: ((i: number) => Buffer | null)[] = [
    (i) => Buffer.from(`${'['.repeat(40 + i)}${']'.repeat(40 + i)}`),
    (i) => Buffer.from(`${'{"a":'.repeat(33 + (i % 500))}1${'}'.repeat(33 + (i % 500))}`),
    (i) => Buffer.from(`[${'1,'.repeat(10_000 + i)}1]`),
    (i) => Buffer.from(`{"__proto__":{"admin":true},"n":${i}}`),
    (i) => Buffer.from(`{"\\u0063onstructor":${i}}`),
    (i) => Buffer.from(JSON.stringify({ id: 'x'.repeat(70_000 + i) })),
    (i) => Buffer.from(`{"amount":${'9'.repeat(100 + i)}}`),
    (i) => Buffer.from([0xc3, 0x28, i & 0xff, 0xa0, 0xa1]),
    (i) => Buffer.from([0, 0x7f, 0xff, 0xff, (i % 200) + 1, 1, 2, 3]),
    (i) => Buffer.from(JSON.stringify({ event_id: i, amount: 'lots', merchant: [] })),
    (i) => (i % 2 === 0 ? null : Buffer.alloc(0)),
    (i) => Buffer.from(`{"truncated": "${i}`),
  ];
  return Array.from({ length: count }, (_, index) => ({
    index,
    value: families[index % families.length]!(index),
  }));
}
