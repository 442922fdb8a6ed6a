/**
 * startService against the real broker: connect → build → topics → run → stop/close, as
 * every service's runMain and the in-process `start()` use it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readTopic, stack, uniqueName } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { defineStageService, groupIdOf } from '@patternflow/service';

test('a service started in-process consumes, produces, commits what it produced and closes on stop', async () => {
  const namespace = uniqueName('start').replace('.', '-');
  const input = `${namespace}.in`;
  const output = `${namespace}.out`;
  const dlq = `${namespace}.dlq`;
  let builds = 0;
  let closes = 0;
  const relay = defineStageService({
    stage: 'priority-router',
    config: {},
    async build() {
      builds += 1;
      return {
        inputTopics: [input],
        outputTopics: [output],
        dlqTopic: dlq,
        handler: async (records) => ({
          messages: records.map((record) => ({
            topic: output,
            key: record.key,
            value: Buffer.from(`relayed:${record.value?.toString()}`),
            headers: {},
          })),
          deadLetters: [],
        }),
        close: async () => {
          closes += 1;
        },
      };
    },
  });
  const config = relay.loadConfig({
    PF_KAFKA_BROKERS: stack.brokers.join(','),
    PF_TOPIC_NAMESPACE: namespace,
    PF_HTTP_PORT: '0',
    PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
  });
  const logger = createLogger({ service: 'start-service-test', level: 'error' });
  const kafka = createKafka({ brokers: stack.brokers, clientId: 'start-service-test', logger });
  const running = await relay.start(config, { logger, metrics: createStageMetrics('priority-router') });
  try {
    // startService created the topics it reads and writes.
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: input,
      acks: -1,
      messages: Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    await producer.disconnect();
    const records = await readTopic(kafka, output, 60, { timeoutMs: 60_000 });
    assert.deepEqual(
      records.map((r) => r.value?.toString()).sort(),
      Array.from({ length: 60 }, (_, i) => `relayed:v${i}`).sort(),
    );
  } finally {
    await running.stop();
  }
  assert.equal(builds, 1);
  assert.equal(closes, 1, 'stop() closed what build() opened, once');
  await running.stop();
  assert.equal(closes, 1, 'a second stop() is a no-op');

  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({
      groupId: groupIdOf('priority-router', config),
      topics: [input],
    });
    const total = committed!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    assert.equal(total, 60, 'stop() committed every record whose output was acknowledged');
    await admin.deleteTopics({ topics: [input, output, dlq] }).catch(() => {});
  } finally {
    await admin.disconnect();
  }
});

test('a build that fails leaves nothing running and rejects start()', async () => {
  const broken = defineStageService({
    stage: 'sink',
    config: {},
    async build() {
      throw new Error('model store unreachable');
    },
  });
  const config = broken.loadConfig({ PF_KAFKA_BROKERS: stack.brokers.join(','), PF_HTTP_PORT: '0' });
  await assert.rejects(
    broken.start(config, {
      logger: createLogger({ service: 'start-service-test', level: 'silent' }),
      metrics: createStageMetrics('sink'),
    }),
    /model store unreachable/,
  );
});
