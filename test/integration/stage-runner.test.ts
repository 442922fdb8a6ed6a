import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { readTopic, stack, uniqueName } from '@patternflow/harness';
import {
  createKafka,
  createStageRunner,
  DeadLetterHeaders,
  type StageHandler,
  type StageRunnerOptions,
} from '@patternflow/kafka';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import type { Kafka } from 'kafkajs';

const logger = createLogger({ service: 'stage-runner-test', level: 'error' });

interface Topics {
  input: string;
  output: string;
  dlq: string;
}

async function makeTopics(kafka: Kafka, prefix: string): Promise<Topics> {
  const topics = {
    input: uniqueName(`${prefix}.in`),
    output: uniqueName(`${prefix}.out`),
    dlq: uniqueName(`${prefix}.dlq`),
  };
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })),
  });
  await admin.disconnect();
  return topics;
}

async function dropTopics(kafka: Kafka, topics: Topics): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {});
  await admin.disconnect();
}

async function produce(kafka: Kafka, topic: string, values: string[]): Promise<void> {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (let i = 0; i < values.length; i += 500) {
    await producer.send({
      topic,
      acks: -1,
      messages: values.slice(i, i + 500).map((value) => ({ key: value, value })),
    });
  }
  await producer.disconnect();
}

async function endOffsetTotal(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** Values of `topic` as strings, read until `expected` records arrived. */
async function readAll(kafka: Kafka, topic: string, expected: number, groupId = uniqueName('reader')) {
  const records = await readTopic(kafka, topic, expected, { groupId });
  return records.map((record) => ({ value: String(record.value), headers: record.headers }));
}

function runnerOptions(kafka: Kafka, topics: Topics, handler: StageHandler): StageRunnerOptions {
  return {
    stage: 'test-relay',
    kafka,
    groupId: uniqueName('relay'),
    topics: [topics.input],
    dlqTopic: topics.dlq,
    handler,
    logger,
    metrics: createStageMetrics('test-relay'),
    maxBatchRecords: 50,
    partitionsConsumedConcurrently: 3,
    maxFetchBytes: 1024 * 1024,
    sessionTimeoutMs: 10_000,
    compression: 'none',
    retryDelayMs: 50,
  };
}

const upperCaseUnlessBad =
  (output: string): StageHandler =>
  async (records) => {
    const result: Awaited<ReturnType<StageHandler>> = { messages: [], deadLetters: [] };
    for (const record of records) {
      const value = String(record.value);
      if (value.startsWith('bad')) {
        result.deadLetters.push({
          record,
          error: new PipelineError(ErrorCodes.SCHEMA_VIOLATION, `value ${value} is bad`),
        });
      } else {
        result.messages.push({
          topic: output,
          key: record.key,
          value: Buffer.from(value.toUpperCase()),
          headers: {},
        });
      }
    }
    return result;
  };

describe('stage runner against the real broker', () => {
  const kafka = createKafka({
    brokers: stack.brokers,
    clientId: 'runner-test',
    logger,
    clientLogLevel: 'error',
  });

  test('relays every record once and dead-letters bad ones with their reason and origin', async (t) => {
    const topics = await makeTopics(kafka, 'runner.relay');
    t.after(() => dropTopics(kafka, topics));
    const values = Array.from({ length: 600 }, (_, i) => (i % 100 === 7 ? `bad-${i}` : `rec-${i}`));
    await produce(kafka, topics.input, values);

    const runner = createStageRunner(runnerOptions(kafka, topics, upperCaseUnlessBad(topics.output)));
    await runner.start();
    t.after(() => runner.stop());

    const good = values.filter((v) => !v.startsWith('bad'));
    const out = await readAll(kafka, topics.output, good.length);
    assert.deepEqual(out.map((r) => r.value).sort(), good.map((v) => v.toUpperCase()).sort());

    const dead = await readAll(kafka, topics.dlq, 6);
    assert.deepEqual(
      dead.map((r) => r.value).sort(),
      values.filter((v) => v.startsWith('bad')).sort(),
      'the DLQ keeps the original value',
    );
    for (const record of dead) {
      assert.equal(record.headers[DeadLetterHeaders.reason], ErrorCodes.SCHEMA_VIOLATION);
      assert.equal(record.headers[DeadLetterHeaders.sourceTopic], topics.input);
      assert.equal(record.headers[DeadLetterHeaders.stage], 'test-relay');
      assert.match(record.headers[DeadLetterHeaders.sourceOffset] ?? '', /^\d+$/);
      assert.match(record.headers[DeadLetterHeaders.message] ?? '', /is bad/);
    }
  });

  test('a retriable failure pauses, retries, and then delivers everything exactly once', async (t) => {
    const topics = await makeTopics(kafka, 'runner.retry');
    t.after(() => dropTopics(kafka, topics));
    const values = Array.from({ length: 300 }, (_, i) => `rec-${i}`);
    await produce(kafka, topics.input, values);

    let failuresLeft = 5;
    const relay = upperCaseUnlessBad(topics.output);
    const options = runnerOptions(kafka, topics, async (records) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1;
        throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
      }
      return relay(records);
    });
    const runner = createStageRunner(options);
    await runner.start();
    t.after(() => runner.stop());

    const out = await readAll(kafka, topics.output, values.length);
    assert.equal(new Set(out.map((r) => r.value)).size, values.length);
    assert.equal(failuresLeft, 0);
    const retries = await options.metrics.retries.get();
    assert.equal(
      retries.values.reduce((sum, v) => sum + v.value, 0),
      5,
    );
  });

  test('pauses while the downstream backlog is over the limit, then resumes and drains without loss', async (t) => {
    const topics = await makeTopics(kafka, 'runner.backlog');
    t.after(() => dropTopics(kafka, topics));
    const values = Array.from({ length: 2000 }, (_, i) => `rec-${i}`);
    await produce(kafka, topics.input, values);

    const downstreamGroupId = uniqueName('downstream');
    const options = runnerOptions(kafka, topics, upperCaseUnlessBad(topics.output));
    options.backlog = {
      downstreamGroupId,
      downstreamTopics: [topics.output],
      pauseWhenBacklogAbove: 200,
      resumeWhenBacklogBelow: 50,
      checkIntervalMs: 100,
    };
    const runner = createStageRunner(options);
    await runner.start();
    t.after(() => runner.stop());

    // Nobody reads the output yet: the runner must stop well short of all 2000 records.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await options.metrics.paused.get()).values[0]?.value !== 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await options.metrics.paused.get()).values[0]?.value, 1, 'the runner paused');
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const producedWhilePaused = await endOffsetTotal(kafka, topics.output);
    // Bounded: the limit, plus at most the chunks in flight when the check fired.
    assert.ok(
      producedWhilePaused < 200 + 3 * 50 * 4,
      `produced ${producedWhilePaused} while downstream was stalled`,
    );
    const lagWhilePaused = (await options.metrics.consumerLag.get()).values.reduce(
      (sum, v) => sum + v.value,
      0,
    );
    assert.ok(lagWhilePaused > 0, `the paused stage reports its lag (${lagWhilePaused})`);

    // The downstream group starts reading: the backlog drains and the runner resumes.
    const out = await readAll(kafka, topics.output, values.length, downstreamGroupId);
    assert.equal(new Set(out.map((r) => r.value)).size, values.length, 'every record arrived after resume');
    assert.equal(await endOffsetTotal(kafka, topics.output), values.length, 'and none twice');
    const lagAfter = (await options.metrics.consumerLag.get()).values.reduce((sum, v) => sum + v.value, 0);
    assert.equal(lagAfter, 0, 'no lag once everything is handed over');
  });
});

describe('stage runner: rebalance during a retry', () => {
  const kafka = createKafka({
    brokers: stack.brokers,
    clientId: 'runner-rebalance-test',
    logger,
    clientLogLevel: 'error',
  });

  test('a rebalance while a chunk is being retried does not leave the stage paused (regression)', async (t) => {
    const topics = await makeTopics(kafka, 'runner.rebalance');
    t.after(() => dropTopics(kafka, topics));
    const values = Array.from({ length: 600 }, (_, i) => `rec-${i}`);
    await produce(kafka, topics.input, values);

    let outputAvailable = false;
    const relay = upperCaseUnlessBad(topics.output);
    const handler: StageHandler = async (records) => {
      if (!outputAvailable) {
        throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
      }
      return relay(records);
    };
    const first = runnerOptions(kafka, topics, handler);
    const runnerA = createStageRunner(first);
    await runnerA.start();
    t.after(() => runnerA.stop());
    // A retries (and is paused); a second member joins the group, which rebalances while A waits.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await first.metrics.paused.get()).values[0]?.value !== 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal((await first.metrics.paused.get()).values[0]?.value, 1, 'A paused while retrying');
    const runnerB = createStageRunner({ ...runnerOptions(kafka, topics, handler), groupId: first.groupId });
    await runnerB.start();
    t.after(() => runnerB.stop());
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    outputAvailable = true;

    const out = await readAll(kafka, topics.output, values.length);
    assert.equal(
      new Set(out.map((r) => r.value)).size,
      values.length,
      'every record arrived after the rebalance',
    );
  });
});
