/**
 * Regression (issue 9): a librdkafka producer with compression.type=lz4 made the ingestor
 * exit 1 with "KafkaJSNotImplemented: LZ4 compression not implemented", and again on every
 * restart, because kafkajs ships gzip only. Every client from createKafka now has the codec.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readTopic, stack, uniqueName } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { produceWithLibrdkafka } from '../clients/foreign.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a bare kafkajs consumer (no codecs registered, as before the fix) makes of the topic. */
const BARE_KAFKAJS_CONSUMER = `
import kafkajs from 'kafkajs';
const { Kafka, logLevel } = kafkajs;
const [brokers, topic] = process.argv.slice(1);
const kafka = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: topic + '.bare', retry: { retries: 0 } });
const report = (outcome) => { console.log(JSON.stringify(outcome)); process.exit(0); };
setTimeout(() => report({ name: 'timeout' }), 30000);
consumer.on(consumer.events.CRASH, ({ payload }) => report({ name: payload.error.name, message: payload.error.message }));
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({ eachMessage: async () => report({ name: 'consumed' }) });
`;

test('regression: an lz4 batch from librdkafka threw KafkaJSNotImplemented in kafkajs; a createKafka consumer reads it', async (t) => {
  const topic = uniqueName('lz4-regression');
  const logger = createLogger({ service: 'lz4-regression-test', level: 'error' });
  const kafka = createKafka({ brokers: stack.brokers, clientId: 'lz4-regression-test', logger });
  const admin = kafka.admin();
  await admin.connect();
  t.after(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect();
  });
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  const records = Array.from({ length: 50 }, (_, i) => ({
    topic,
    key: `k${i}`,
    value: JSON.stringify({ event_id: `e${i}`, amount: i, note: 'lz4 '.repeat(20) }),
  }));
  assert.equal(await produceWithLibrdkafka('lz4', records), 50);

  // The bug, reproduced: without the codecs, kafkajs cannot fetch this batch.
  const { stdout } = await run(
    process.execPath,
    ['--input-type=module', '-e', BARE_KAFKAJS_CONSUMER, stack.brokers.join(','), topic],
    {
      cwd: ROOT,
    },
  );
  const bare = JSON.parse(stdout.trim().split('\n').at(-1)!);
  assert.equal(bare.name, 'KafkaJSNotImplemented', stdout);
  assert.match(bare.message, /LZ4 compression not implemented/);

  const read = await readTopic(kafka, topic, 50, { timeoutMs: 30_000 });
  assert.deepEqual(
    read.map((record) => record.value?.toString()),
    records.map((record) => record.value),
  );
});
