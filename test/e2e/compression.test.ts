/**
 * Every Kafka codec, everywhere (issue 9): for gzip, snappy, lz4 and zstd, generated events
 * are produced by two foreign clients with that codec — librdkafka (confluent-kafka) and
 * the Java client's console producer — and the four services run as processes with
 * PF_COMPRESSION set to the same codec, so every stage reads batches in it. Every event
 * must become a row; the broker must hold every batch of every topic in that codec; the
 * Java console consumer must read what the stages wrote.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateEvents } from '@patternflow/generators';
import { deleteNamespace, reservePorts, stack, startServices } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import {
  type Codec,
  type ForeignRecord,
  keysReadByJavaConsole,
  librdkafkaPython,
  produceWithJavaConsole,
  produceWithLibrdkafka,
  storedBatchCodecs,
} from '../clients/foreign.ts';

const CODECS: readonly Codec[] = ['gzip', 'snappy', 'lz4', 'zstd'];
/** Per codec and client; all three sources. */
const EVENTS_PER_CLIENT = 60;
const logger = createLogger({ service: 'e2e-compression', level: 'error' });

let kafka: Kafka;
let pool: pg.Pool;

async function waitForRows(schema: string, ids: readonly string[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    count = await pool
      .query(`SELECT count(DISTINCT id)::int AS n FROM ${schema}.patterns WHERE id = ANY($1::text[])`, [ids])
      .then((result) => result.rows[0].n as number)
      .catch(() => 0);
    if (count >= ids.length) return count;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return count;
}

function generatedRecords(
  seed: number,
  count: number,
  ingestTopic: (source: string) => string,
): ForeignRecord[] {
  return [...generateEvents({ seed, count })].map(({ source, event }) => ({
    topic: ingestTopic(source),
    key: getSourceAdapter(source)!.normalize(event).id,
    value: JSON.stringify(event),
  }));
}

describe('every Kafka codec through every stage, from foreign producers', { timeout: 420_000 }, () => {
  before(() => {
    kafka = createKafka({
      brokers: stack.brokers,
      clientId: 'e2e-compression',
      logger,
      clientLogLevel: 'error',
    });
    pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
    // Installs librdkafka's Python client now (cached), not inside the first test's clock.
    librdkafkaPython();
  });

  after(async () => {
    await pool.end();
  });

  CODECS.forEach((codec, index) => {
    test(`${codec}: batches from librdkafka and the Java producer become rows; every stage writes ${codec} the Java consumer reads`, async (t) => {
      const namespace = `cmp${codec}${randomBytes(3).toString('hex')}`;
      const topics = topicNames(namespace);
      const coldDir = mkdtempSync(join(tmpdir(), `${namespace}-cold-`));
      const fleet = startServices({
        logDir: join(process.cwd(), '.stack', 'logs', namespace),
        basePort: await reservePorts(4),
        env: {
          PF_KAFKA_BROKERS: stack.brokers.join(','),
          PF_REGISTRY_URL: stack.registryUrl,
          PF_PG_URL: stack.pgUrl,
          PF_PG_SCHEMA: namespace,
          PF_COLD_DIR: coldDir,
          PF_TOPIC_NAMESPACE: namespace,
          PF_COMPRESSION: codec,
          PF_LOG_LEVEL: 'info',
        },
      });
      t.after(async () => {
        await fleet.stop();
        await deleteNamespace(kafka, namespace);
        await pool.query(`DROP SCHEMA IF EXISTS ${namespace} CASCADE`).catch(() => {});
        rmSync(coldDir, { recursive: true, force: true });
      });
      await fleet.waitReady();

      const seed = 9100 + index * 10;
      const viaLibrdkafka = generatedRecords(seed, EVENTS_PER_CLIENT, topics.ingest);
      const viaJava = generatedRecords(seed + 1, EVENTS_PER_CLIENT, topics.ingest);
      const [delivered] = await Promise.all([
        produceWithLibrdkafka(codec, viaLibrdkafka),
        produceWithJavaConsole(codec, viaJava),
      ]);
      assert.equal(delivered, viaLibrdkafka.length);
      const ids = [...new Set([...viaLibrdkafka, ...viaJava].map((record) => record.key))];
      assert.equal(ids.length, 2 * EVENTS_PER_CLIENT, 'generated ids are unique');

      assert.equal(await waitForRows(namespace, ids, 90_000), ids.length, 'every event is a row');
      for (const [name, service] of fleet.processes) {
        assert.equal(service.child.exitCode, null, `${name} is still running`);
        assert.equal(service.starts, 1, `${name} never restarted`);
      }

      // The broker keeps each producer's codec: every stored batch, in and out, is in `codec`.
      const admin = kafka.admin();
      await admin.connect();
      const mine = (await admin.listTopics()).filter((topic) => topic.startsWith(`${namespace}.`));
      await admin.disconnect();
      const ingestTopics = [...new Set(viaLibrdkafka.map((record) => record.topic))];
      const routedTopics = mine.filter((topic) => topic.startsWith(`${namespace}.patterns.routed.`));
      // The expedited topics exist (the stages create them) but may hold no record of this mix.
      const expedited = [topics.normalizedPriority, topics.taggedPriority];
      const stored = await storedBatchCodecs([
        ...ingestTopics,
        topics.normalized,
        topics.tagged,
        ...expedited,
        ...routedTopics,
      ]);
      for (const topic of expedited) {
        for (const batch of stored.get(topic) ?? [])
          assert.equal(batch, codec, `${topic}: every batch is ${codec}`);
      }
      for (const topic of [...ingestTopics, topics.normalized, topics.tagged]) {
        const batches = stored.get(topic)!;
        assert.ok(batches.length > 0, `${topic} has batches`);
        assert.deepEqual(new Set(batches), new Set([codec]), `${topic}: every batch is ${codec}`);
      }
      const routedBatches = routedTopics.flatMap((topic) => stored.get(topic)!);
      assert.ok(routedBatches.length > 0, 'the routed lanes have batches');
      assert.deepEqual(new Set(routedBatches), new Set([codec]), `every routed batch is ${codec}`);

      // Another client reads what the stages wrote: the Java console consumer, all three outputs.
      const escaped = namespace.replace(/[.]/g, '\\.');
      const keys = await keysReadByJavaConsole(
        `^${escaped}\\.patterns\\.(normalized|tagged|normalized\\.priority|tagged\\.priority|routed\\..+)$`,
        3 * ids.length,
      );
      assert.equal(keys.length, 3 * ids.length, 'the Java consumer read every output record');
      assert.deepEqual(new Set(keys), new Set(ids));
    });
  });
});
