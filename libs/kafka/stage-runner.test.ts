import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import kafkajs, {
  type ConsumerRunConfig,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  type ProducerBatch,
} from 'kafkajs';
import { DeadLetterHeaders } from './dead-letter.ts';
import type { InboundRecord, StageHandler } from './records.ts';
import { createStageRunner, type StageRunner, type StageRunnerOptions } from './stage-runner.ts';

// kafkajs is CommonJS and spreads its error classes into module.exports, which Node's
// named-export detection cannot see: take them from the default export.
const {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
} = kafkajs;

/** Every test settles in well under a second; a hang means a broken runner. */
const QUICK = { timeout: 5000 };
const logger = createLogger({ service: 'stage-runner-unit-test', level: 'silent' });
const FIXED_NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const IN = 'unit.in';
const OUT = 'unit.out';
const DLQ = 'unit.dlq';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

/** Deferreds of the running test; released after it so a failed test cannot hang the file. */
const openDeferreds: Deferred<unknown>[] = [];

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const created = { promise, resolve, reject };
  openDeferreds.push(created as Deferred<unknown>);
  return created;
}

function releaseOpenDeferreds(): void {
  for (const open of openDeferreds.splice(0)) open.resolve(undefined);
}

/** Waits (without timers, so fake timers do not stop it) until `condition` holds. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!(await condition())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await nextTurn();
  }
}

/** The error kafkajs builds from a broker's error code (src/protocol/error.js). */
function protocolError(type: string, code: number, retriable: boolean) {
  return new KafkaJSProtocolError(
    Object.assign(new Error(`${type} from the broker`), { type, code, retriable }),
  );
}

interface BatchSpec {
  topic?: string;
  partition?: number;
  firstOffset: number;
  count: number;
  highWatermark?: number;
  headers?: Record<string, string>;
}

/** One eachBatch call driven by a test: what the runner did with it. */
interface DrivenBatch {
  /** Settles when the runner's eachBatch returns (or rejects with what it threw). */
  done: Promise<void>;
  resolved: string[];
  heartbeats: number;
  /** What kafkajs reports after a rebalance revoked the partition. */
  stale: boolean;
  /** What kafkajs reports while the consumer is stopping. */
  running: boolean;
  heartbeatError?: Error;
}

/**
 * A stand-in for kafkajs's Kafka client that records what the runner does with it: the
 * consumer captures the eachBatch handler so that a test can drive it with fake batches,
 * and keeps the pause state like kafkajs does (refused before run(), lost on a restart).
 */
function fakeKafka() {
  const log: string[] = [];
  const listeners = new Map<string, ((event: { payload: unknown }) => void)[]>();
  const inFlight = new Set<Promise<void>>();
  const sends: ProducerBatch[] = [];
  /** Offsets the runner committed (consumer.commitOffsets), as topic:partition@next-offset. */
  const committed: string[] = [];
  /** Errors the next commitOffsets calls throw, in order. */
  const commitFailures: Error[] = [];
  /** End offset per output topic (partition 0 only), advanced by every acknowledged send. */
  const produced = new Map<string, number>();

  const consumerState = {
    running: false,
    paused: new Set<string>(),
    runConfig: undefined as ConsumerRunConfig | undefined,
  };
  const events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' } as const;
  const consumer = {
    events,
    on(event: string, listener: (event: { payload: unknown }) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return () => {};
    },
    connect: async () => {
      log.push('consumer.connect');
    },
    subscribe: async () => {},
    run: async (config: ConsumerRunConfig) => {
      consumerState.runConfig = config;
      consumerState.running = true;
    },
    // Like kafkajs: a whole topic, or some of its partitions ("topic:partition" here).
    pause(topics: { topic: string; partitions?: number[] }[]) {
      if (!consumerState.running) {
        throw new KafkaJSNonRetriableError(
          'Consumer group was not initialized, consumer#run must be called first',
        );
      }
      for (const { topic, partitions } of topics) {
        if (partitions) for (const partition of partitions) consumerState.paused.add(`${topic}:${partition}`);
        else consumerState.paused.add(topic);
      }
      if (!log.at(-1)?.startsWith('pause')) log.push('pause');
    },
    resume(topics: { topic: string; partitions?: number[] }[]) {
      if (!consumerState.running) {
        throw new KafkaJSNonRetriableError(
          'Consumer group was not initialized, consumer#run must be called first',
        );
      }
      for (const { topic } of topics) {
        const wasPaused = [...consumerState.paused].some(
          (key) => key === topic || key.startsWith(`${topic}:`),
        );
        for (const key of [...consumerState.paused]) {
          if (key === topic || key.startsWith(`${topic}:`)) consumerState.paused.delete(key);
        }
        if (wasPaused) log.push('resume');
      }
    },
    commitOffsets: async (offsets: { topic: string; partition: number; offset: string }[]) => {
      const failure = commitFailures.shift();
      if (failure) throw failure;
      for (const { topic, partition, offset } of offsets) {
        committed.push(`${topic}:${partition}@${offset}`);
        log.push(`commit ${topic}:${partition}@${offset}`);
      }
    },
    // Like kafkajs, waits for the eachBatch calls in flight. kafkajs would also turn
    // isRunning() false; the fake leaves it on, so that a test shows the runner stops on
    // its own stop() rather than on kafkajs's flag.
    disconnect: async () => {
      log.push('consumer.disconnect');
      await Promise.allSettled([...inFlight]);
      consumerState.running = false;
    },
  };

  let onSend: (batch: ProducerBatch) => Promise<void> = async () => {};
  const producer = {
    connect: async () => {
      log.push('producer.connect');
    },
    disconnect: async () => {
      log.push('producer.disconnect');
    },
    sendBatch: async (batch: ProducerBatch) => {
      sends.push(batch);
      log.push(`send ${(batch.topicMessages ?? []).map((t) => `${t.topic}:${t.messages.length}`).join(' ')}`);
      await onSend(batch);
      for (const { topic, messages } of batch.topicMessages ?? []) {
        produced.set(topic, (produced.get(topic) ?? 0) + messages.length);
      }
      return [];
    },
  };

  /** Committed offsets of the downstream group, by topic (partition 0 only). */
  const downstreamCommitted = new Map<string, number>();
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    fetchOffsets: async ({ topics }: { groupId: string; topics: string[] }) =>
      topics.map((topic) => ({
        topic,
        partitions: [{ partition: 0, offset: String(downstreamCommitted.get(topic) ?? -1), metadata: null }],
      })),
    fetchTopicOffsets: async (topic: string) => {
      const high = String(produced.get(topic) ?? 0);
      return [{ partition: 0, offset: high, high, low: '0' }];
    },
  };

  function emit(event: keyof typeof events, payload: unknown) {
    for (const listener of listeners.get(events[event]) ?? []) listener({ payload });
  }

  function deliver(spec: BatchSpec): DrivenBatch {
    const eachBatch = consumerState.runConfig?.eachBatch;
    assert.ok(eachBatch, 'the runner called consumer.run({ eachBatch })');
    const topic = spec.topic ?? IN;
    const partition = spec.partition ?? 0;
    const messages: KafkaMessage[] = Array.from({ length: spec.count }, (_, i) => {
      const offset = spec.firstOffset + i;
      return {
        key: Buffer.from(`key-${offset}`),
        value: Buffer.from(`rec-${offset}`),
        timestamp: String(FIXED_NOW),
        attributes: 0,
        offset: String(offset),
        headers: Object.fromEntries(
          Object.entries(spec.headers ?? {}).map(([name, value]) => [name, Buffer.from(value)]),
        ),
      };
    });
    const driven: DrivenBatch = {
      done: Promise.resolve(),
      resolved: [],
      heartbeats: 0,
      stale: false,
      running: true,
    };
    const payload = {
      batch: {
        topic,
        partition,
        highWatermark: String(spec.highWatermark ?? spec.firstOffset + spec.count),
        messages,
        isEmpty: () => messages.length === 0,
        firstOffset: () => messages[0]?.offset ?? null,
        lastOffset: () => messages.at(-1)?.offset ?? String(spec.firstOffset - 1),
        offsetLag: () => '0',
        offsetLagLow: () => '0',
      },
      resolveOffset: (offset: string) => {
        driven.resolved.push(offset);
        log.push(`resolve ${partition}:${offset}`);
      },
      heartbeat: async () => {
        driven.heartbeats += 1;
        if (driven.heartbeatError) throw driven.heartbeatError;
      },
      commitOffsetsIfNecessary: async () => {
        throw new Error('the runner commits through consumer.commitOffsets, never through kafkajs');
      },
      uncommittedOffsets: () => ({ topics: [] }),
      isRunning: () => driven.running,
      isStale: () => driven.stale,
      pause: () => () => {},
    } as unknown as EachBatchPayload;
    const done = eachBatch(payload);
    const settled = done.then(
      () => {},
      () => {},
    );
    inFlight.add(settled);
    settled.then(() => inFlight.delete(settled));
    driven.done = done;
    return driven;
  }

  const kafka = {
    consumer: () => consumer,
    producer: () => producer,
    admin: () => admin,
  } as unknown as Kafka;

  return {
    kafka,
    log,
    sends,
    committed,
    commitFailures,
    consumer: consumerState,
    downstreamCommitted,
    produced,
    emit,
    deliver,
    /** What kafkajs does when a crashed consumer restarts: a new consumer group, no pauses. */
    forgetPauses: () => consumerState.paused.clear(),
    set onSend(fn: (batch: ProducerBatch) => Promise<void>) {
      onSend = fn;
    },
  };
}

type FakeKafka = ReturnType<typeof fakeKafka>;

/** Upper-cases every record onto OUT. */
const relay: StageHandler = async (records) => ({
  messages: records.map((record) => ({
    topic: OUT,
    key: record.key,
    value: Buffer.from(String(record.value).toUpperCase()),
    headers: {},
  })),
  deadLetters: [],
});

function runnerOptions(
  fake: FakeKafka,
  handler: StageHandler,
  overrides: Partial<StageRunnerOptions> = {},
): StageRunnerOptions {
  return {
    stage: 'unit-relay',
    kafka: fake.kafka,
    groupId: 'unit-relay',
    topics: [IN],
    dlqTopic: DLQ,
    handler,
    logger,
    metrics: createStageMetrics('unit-relay'),
    maxBatchRecords: 3,
    partitionsConsumedConcurrently: 2,
    maxFetchBytes: 1024 * 1024,
    // heartbeats every 500 ms while a chunk is in flight
    sessionTimeoutMs: 5000,
    compression: 'none',
    retryDelayMs: 2,
    maxRetryDelayMs: 10,
    now: () => FIXED_NOW,
    ...overrides,
  };
}

/** Starts a runner on the fake (stopped after the test) and joins the group. */
async function startRunner(
  t: TestContext,
  options: StageRunnerOptions,
  fake: FakeKafka,
): Promise<StageRunner> {
  const runner = createStageRunner(options);
  // Release what the test left waiting first: stop() waits for the chunk in flight.
  t.after(async () => {
    releaseOpenDeferreds();
    await runner.stop();
  });
  await runner.start();
  fake.emit('GROUP_JOIN', { memberId: 'member-1', memberAssignment: { [IN]: [0, 1] } });
  // Tests read the log from here on: what the runner did with the batches they deliver.
  fake.log.length = 0;
  return runner;
}

type MetricSample = { value: number; labels: Partial<Record<string, string | number>> };

/** Sum of a metric's samples whose labels include `labels`. */
async function metric(
  source: { get(): Promise<{ values: MetricSample[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await source.get();
  return values
    .filter((sample) =>
      Object.entries(labels).every(([name, value]) => String(sample.labels[name]) === value),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
}

function offsetsOf(records: readonly InboundRecord[]): string[] {
  return records.map((record) => record.offset);
}

/** Records whether a promise has settled, without awaiting it. */
function watch(promise: Promise<unknown>) {
  const state = { settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

describe('stage runner: at-least-once', () => {
  test('offsets are resolved only after the produce is acknowledged', QUICK, async (t) => {
    const fake = fakeKafka();
    const ack = deferred();
    fake.onSend = () => ack.promise;
    const options = runnerOptions(fake, relay, { maxBatchRecords: 10 });
    const runner = await startRunner(t, options, fake);

    const batch = fake.deliver({ firstOffset: 40, count: 5, highWatermark: 45 });
    await until(() => fake.sends.length === 1, 'the chunk is produced');
    for (let i = 0; i < 5; i += 1) await nextTurn();
    assert.deepEqual(batch.resolved, [], 'nothing is resolved while the produce is unacknowledged');
    assert.equal(await metric(options.metrics.recordsOut), 0, 'nothing counted as out before the ack');

    assert.deepEqual(fake.committed, [], 'nor committed');
    ack.resolve();
    await batch.done;
    assert.deepEqual(batch.resolved, ['44']);
    assert.deepEqual(fake.committed, [], 'committed off the processing path, not by the batch');
    await runner.stop();
    assert.deepEqual(fake.committed, ['unit.in:0@45'], 'the acknowledged offset is committed on stop');
    assert.equal(await metric(options.metrics.recordsOut, { topic: OUT }), 5);
    assert.deepEqual(
      fake.sends[0]?.topicMessages?.[0]?.messages.map((m) => String(m.value)),
      ['REC-40', 'REC-41', 'REC-42', 'REC-43', 'REC-44'],
    );
    assert.equal(fake.sends[0]?.acks, -1, 'produced with acks=all');
  });

  test('a rejected produce resolves nothing', QUICK, async (t) => {
    const fake = fakeKafka();
    const refused = protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false);
    fake.onSend = async () => {
      throw refused;
    };
    const options = runnerOptions(fake, relay);
    const runner = await startRunner(t, options, fake);

    const batch = fake.deliver({ firstOffset: 0, count: 6 });
    const isRefusal = (error: unknown) =>
      error instanceof PipelineError && error.code === ErrorCodes.KAFKA && error.cause === refused;
    await assert.rejects(batch.done, (error) => error === refused || isRefusal(error));
    assert.deepEqual(batch.resolved, []);
    assert.deepEqual(fake.committed, []);
    assert.equal(fake.sends.length, 1, 'the second chunk is not attempted');
    assert.equal(await metric(options.metrics.recordsOut), 0);
    assert.ok(isRefusal(await runner.failed), 'a non-retriable produce error fails the stage');
  });

  test(
    'chunks of maxBatchRecords: one produce and one resolveOffset per chunk, in order',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const handled: string[][] = [];
      const options = runnerOptions(fake, async (records) => {
        handled.push(offsetsOf(records));
        return relay(records);
      });
      await startRunner(t, options, fake);

      const batch = fake.deliver({ firstOffset: 100, count: 7, highWatermark: 110 });
      await batch.done;
      assert.deepEqual(handled, [['100', '101', '102'], ['103', '104', '105'], ['106']]);
      assert.deepEqual(batch.resolved, ['102', '105', '106']);
      assert.deepEqual(
        fake.log.filter((line) => line.startsWith('send') || line.startsWith('resolve')),
        [
          'send unit.out:3',
          'resolve 0:102',
          'send unit.out:3',
          'resolve 0:105',
          'send unit.out:1',
          'resolve 0:106',
        ],
        'each chunk is resolved after its own produce and before the next chunk',
      );
      assert.deepEqual(
        fake.sends.flatMap((send) =>
          send.topicMessages?.flatMap((t) => t.messages.map((m) => String(m.value))),
        ),
        ['REC-100', 'REC-101', 'REC-102', 'REC-103', 'REC-104', 'REC-105', 'REC-106'],
        'output keeps the input order',
      );
      assert.equal(await metric(options.metrics.recordsIn, { topic: IN }), 7);
      assert.equal(await metric(options.metrics.recordsOut, { topic: OUT }), 7);
      assert.equal(
        await metric(options.metrics.consumerLag, { topic: IN, partition: '0' }),
        3,
        'lag: the high watermark (110) minus the next offset to hand over (107)',
      );
    },
  );

  test(
    'dead letters go to the DLQ in the same sendBatch as the outputs, with the reason headers',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const options = runnerOptions(fake, async (records) => {
        const good = records.filter((record) => record.offset !== '201');
        const bad = records.find((record) => record.offset === '201');
        assert.ok(bad);
        const result = await relay(good);
        result.deadLetters.push({
          record: bad,
          error: new PipelineError(ErrorCodes.SCHEMA_VIOLATION, 'field amount is not a number'),
        });
        return result;
      });
      await startRunner(t, options, fake);

      const batch = fake.deliver({ firstOffset: 200, count: 3, headers: { 'x-origin': 'producer-a' } });
      await batch.done;
      assert.equal(fake.sends.length, 1, 'outputs and dead letters share one acknowledged produce');
      const [send] = fake.sends;
      assert.deepEqual(
        send?.topicMessages?.map((t) => [t.topic, t.messages.length]),
        [
          [OUT, 2],
          [DLQ, 1],
        ],
      );
      const dead = send?.topicMessages?.find((t) => t.topic === DLQ)?.messages[0];
      assert.ok(dead);
      assert.equal(String(dead.key), 'key-201', 'the original key');
      assert.equal(String(dead.value), 'rec-201', 'the original value');
      assert.deepEqual(dead.headers, {
        'x-origin': 'producer-a',
        [DeadLetterHeaders.reason]: ErrorCodes.SCHEMA_VIOLATION,
        [DeadLetterHeaders.message]: 'field amount is not a number',
        [DeadLetterHeaders.stage]: 'unit-relay',
        [DeadLetterHeaders.sourceTopic]: IN,
        [DeadLetterHeaders.sourcePartition]: '0',
        [DeadLetterHeaders.sourceOffset]: '201',
        [DeadLetterHeaders.failedAt]: new Date(FIXED_NOW).toISOString(),
      });
      assert.deepEqual(batch.resolved, ['202']);
      assert.equal(await metric(options.metrics.deadLettered, { reason: ErrorCodes.SCHEMA_VIOLATION }), 1);
      assert.equal(await metric(options.metrics.recordsOut, { topic: DLQ }), 1);
      assert.equal(await metric(options.metrics.recordsOut, { topic: OUT }), 2);
    },
  );
});

describe('stage runner: retries', () => {
  test(
    'a retriable failure pauses the consumer, backs off, retries the chunk and resumes',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      let attempts = 0;
      const thirdAttempt = deferred();
      const release = deferred();
      const options = runnerOptions(fake, async (records) => {
        attempts += 1;
        if (attempts <= 2) throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
        thirdAttempt.resolve();
        await release.promise;
        return relay(records);
      });
      const runner = await startRunner(t, options, fake);

      const batch = fake.deliver({ firstOffset: 0, count: 3 });
      await thirdAttempt.promise;
      assert.ok(fake.consumer.paused.has(IN), 'paused while the chunk is retried');
      assert.equal(await metric(options.metrics.paused), 1);
      assert.equal(
        await metric(options.metrics.pauseReasons, { reason: ErrorCodes.SINK_UNAVAILABLE }),
        1,
        'the pause says why: the code of the failure being retried',
      );
      assert.deepEqual(batch.resolved, [], 'nothing resolved while retrying');
      assert.ok(batch.heartbeats >= 2, `heartbeats during the backoff (${batch.heartbeats})`);
      assert.equal(runner.isReady(), true, 'a retrying stage is still ready');

      release.resolve();
      await batch.done;
      assert.equal(attempts, 3);
      assert.deepEqual(batch.resolved, ['2']);
      assert.equal(fake.sends.length, 1);
      assert.equal(fake.consumer.paused.size, 0, 'resumed after the retry succeeded');
      assert.equal(await metric(options.metrics.paused), 0);
      assert.equal(
        await metric(options.metrics.pauseReasons, { reason: ErrorCodes.SINK_UNAVAILABLE }),
        0,
        'a lifted reason reads 0',
      );
      assert.equal(await metric(options.metrics.retries, { reason: ErrorCodes.SINK_UNAVAILABLE }), 2);
      assert.deepEqual(
        fake.log.filter((line) => line === 'pause' || line === 'resume' || line.startsWith('resolve')),
        ['pause', 'resume', 'resolve 0:2'],
      );
    },
  );

  for (const [name, makeError] of [
    [
      'KafkaJSNumberOfRetriesExceeded',
      () =>
        new KafkaJSNumberOfRetriesExceeded(
          new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'),
          {
            retryCount: 8,
            retryTime: 5000,
          },
        ),
    ],
    ['KafkaJSConnectionError', () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED')],
  ] as const) {
    test(
      `a produce that fails with ${name} is retried with the whole chunk; resolved once, after the ack`,
      QUICK,
      async (t) => {
        const fake = fakeKafka();
        let failures = 1;
        fake.onSend = async () => {
          if (failures > 0) {
            failures -= 1;
            throw makeError();
          }
        };
        let handled = 0;
        const options = runnerOptions(fake, async (records) => {
          handled += 1;
          return relay(records);
        });
        const runner = await startRunner(t, options, fake);
        const failed = watch(runner.failed);

        const batch = fake.deliver({ firstOffset: 10, count: 2 });
        await batch.done;
        assert.equal(handled, 2, 'the chunk is handled again');
        assert.deepEqual(
          fake.log.filter((line) => line.startsWith('send') || line.startsWith('resolve')),
          ['send unit.out:2', 'send unit.out:2', 'resolve 0:11'],
        );
        assert.deepEqual(fake.sends[0], fake.sends[1], 'the same records are produced again');
        assert.equal(await metric(options.metrics.retries), 1);
        assert.equal(await metric(options.metrics.recordsOut), 2, 'only the acknowledged produce counts');
        assert.equal(fake.consumer.paused.size, 0);
        await nextTurn();
        assert.equal(failed.settled, false);
      },
    );
  }

  test(
    'retry pauses are per partition: one recovered partition does not resume the other',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const failing = new Set([0, 1]);
      const options = runnerOptions(fake, async (records) => {
        if (failing.has(records[0]!.partition)) {
          throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
        }
        return relay(records);
      });
      await startRunner(t, options, fake);

      const first = fake.deliver({ partition: 0, firstOffset: 0, count: 2 });
      const second = fake.deliver({ partition: 1, firstOffset: 0, count: 2 });
      await until(
        async () => (await metric(options.metrics.retries)) >= 2 && fake.consumer.paused.has(IN),
        'both partitions retry',
      );
      failing.delete(0);
      await first.done;
      assert.deepEqual(first.resolved, ['1']);
      assert.ok(fake.consumer.paused.has(IN), 'still paused: partition 1 is still retrying');
      assert.equal(await metric(options.metrics.paused), 1);
      assert.equal(
        await metric(options.metrics.pauseReasons, { reason: ErrorCodes.SINK_UNAVAILABLE }),
        1,
        'one partition still holds the pause for that reason',
      );

      failing.delete(1);
      await second.done;
      assert.deepEqual(second.resolved, ['1']);
      assert.equal(fake.consumer.paused.size, 0);
      assert.equal(await metric(options.metrics.paused), 0);
    },
  );

  for (const ending of ['a rebalance (isStale)', 'kafkajs stopping the batch (isRunning false)'] as const) {
    test(
      `${ending} while a chunk is being retried does not leave the stage paused (regression: rebalance while a chunk is being retried leaves the stage paused)`,
      QUICK,
      async (t) => {
        const fake = fakeKafka();
        let outputAvailable = false;
        const options = runnerOptions(
          fake,
          async (records) => {
            if (!outputAvailable) {
              throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
            }
            return relay(records);
          },
          { retryDelayMs: 20, maxRetryDelayMs: 20 },
        );
        const runner = await startRunner(t, options, fake);
        const failed = watch(runner.failed);

        const revoked = fake.deliver({ firstOffset: 0, count: 3 });
        await until(() => fake.consumer.paused.has(IN), 'the runner pauses to retry');
        if (ending === 'a rebalance (isStale)') revoked.stale = true;
        else revoked.running = false;
        await revoked.done;
        assert.deepEqual(revoked.resolved, [], 'the revoked chunk is left to the next owner');
        assert.equal(fake.consumer.paused.size, 0, 'the retry pause is lifted');
        assert.equal(await metric(options.metrics.paused), 0);

        // The partition comes back in the next generation and is consumed normally.
        outputAvailable = true;
        const next = fake.deliver({ firstOffset: 0, count: 3 });
        await next.done;
        assert.deepEqual(next.resolved, ['2']);
        assert.equal(failed.settled, false);
      },
    );
  }

  test('a batch revoked between chunks (isStale) resolves nothing after the revocation', QUICK, async (t) => {
    const fake = fakeKafka();
    let batch: ReturnType<FakeKafka['deliver']> | undefined;
    let handled = 0;
    const options = runnerOptions(fake, async (records) => {
      handled += 1;
      const result = await relay(records);
      // the group rebalances while the first chunk is being produced
      if (batch) batch.stale = true;
      return result;
    });
    await startRunner(t, options, fake);

    batch = fake.deliver({ firstOffset: 0, count: 9 });
    await batch.done;
    assert.equal(handled, 1);
    assert.deepEqual(batch.resolved, ['2'], 'the acknowledged chunk is resolved, nothing after it');
    assert.equal(await metric(options.metrics.recordsIn), 3, 'the revoked rest is not taken in');
  });
});

describe('stage runner: downstream backlog', () => {
  test(
    'the backlog pause stops the rest of the fetched batch from being processed and resolved',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const handled: string[][] = [];
      const options = runnerOptions(
        fake,
        async (records) => {
          handled.push(offsetsOf(records));
          return relay(records);
        },
        {
          backlog: {
            downstreamGroupId: 'unit-next-stage',
            downstreamTopics: [OUT],
            pauseWhenBacklogAbove: 4,
            resumeWhenBacklogBelow: 2,
            checkIntervalMs: 5,
          },
        },
      );
      fake.downstreamCommitted.set(OUT, 0);
      await startRunner(t, options, fake);

      // 3 records produced: under the limit; 6: over, so the third chunk must not run.
      const batch = fake.deliver({ firstOffset: 0, count: 9 });
      await batch.done;
      assert.deepEqual(handled, [
        ['0', '1', '2'],
        ['3', '4', '5'],
      ]);
      assert.deepEqual(batch.resolved, ['2', '5'], 'the unprocessed rest (6..8) stays unresolved');
      assert.ok(fake.consumer.paused.has(IN));
      assert.equal(await metric(options.metrics.paused), 1);
      assert.equal(await metric(options.metrics.pauseReasons, { reason: 'downstream-backlog' }), 1);
      assert.equal(
        await metric(options.metrics.consumerLag, { topic: IN, partition: '0' }),
        3,
        'the records left in the batch count as lag',
      );

      // kafkajs may still deliver a batch it fetched before the pause (kafkajs #612/#1376).
      const fetchedBeforePause = fake.deliver({ firstOffset: 6, count: 3 });
      await fetchedBeforePause.done;
      assert.equal(handled.length, 2, 'not handled while paused');
      assert.deepEqual(fetchedBeforePause.resolved, [], 'not resolved while paused');

      // The downstream stage catches up: the next check resumes, and the rest is consumed.
      fake.downstreamCommitted.set(OUT, fake.produced.get(OUT) ?? 0);
      await until(() => !fake.consumer.paused.has(IN), 'the runner resumes');
      assert.equal(await metric(options.metrics.paused), 0);
      assert.equal(await metric(options.metrics.pauseReasons, { reason: 'downstream-backlog' }), 0);
      const afterResume = fake.deliver({ firstOffset: 6, count: 3 });
      await afterResume.done;
      assert.deepEqual(afterResume.resolved, ['8']);
      assert.equal(fake.produced.get(OUT), 9, 'every record produced once');
    },
  );

  test(
    'the pause state is re-applied on every group join (kafkajs forgets it on restart)',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      // The downstream group is far behind before this stage even starts.
      fake.produced.set(OUT, 50);
      fake.downstreamCommitted.set(OUT, 0);
      const options = runnerOptions(fake, relay, {
        backlog: {
          downstreamGroupId: 'unit-next-stage',
          downstreamTopics: [OUT],
          pauseWhenBacklogAbove: 4,
          resumeWhenBacklogBelow: 2,
          checkIntervalMs: 60_000,
        },
      });
      const runner = createStageRunner(options);
      t.after(() => runner.stop());
      await runner.start();
      assert.equal(await metric(options.metrics.paused), 1, 'over the limit at start');
      assert.equal(fake.consumer.paused.size, 0, 'kafkajs refused pause() before the group existed');

      fake.emit('GROUP_JOIN', { memberId: 'member-1', memberAssignment: {} });
      assert.ok(fake.consumer.paused.has(IN), 'applied on the first join');
      assert.equal(runner.isReady(), true);

      // kafkajs restarts a crashed consumer with a new consumer group: the pause is gone.
      fake.emit('CRASH', {
        error: new KafkaJSConnectionError('Connection error'),
        groupId: 'unit-relay',
        restart: true,
      });
      fake.forgetPauses();
      assert.equal(runner.isReady(), false, 'not ready while kafkajs restarts the consumer');
      fake.emit('GROUP_JOIN', { memberId: 'member-2', memberAssignment: {} });
      assert.ok(fake.consumer.paused.has(IN), 're-applied after the restart');
      assert.equal(runner.isReady(), true);
    },
  );
});

describe('stage runner: failures', () => {
  test(
    'a non-retriable error settles `failed`, resolves nothing, and the crash drops readiness',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const broken = new PipelineError(ErrorCodes.MODEL_LOAD, 'model session is gone');
      let handled = 0;
      const options = runnerOptions(fake, async () => {
        handled += 1;
        throw broken;
      });
      const runner = await startRunner(t, options, fake);
      assert.equal(runner.isReady(), true);

      const batch = fake.deliver({ firstOffset: 0, count: 6 });
      await assert.rejects(batch.done, (error) => error === broken);
      assert.equal(await runner.failed, broken);
      assert.equal(handled, 1, 'not retried');
      assert.deepEqual(batch.resolved, []);
      assert.equal(fake.sends.length, 0);
      assert.equal(fake.consumer.paused.size, 0);

      // kafkajs answers a non-retriable error from eachBatch with a crash it does not restart.
      fake.emit('CRASH', { error: broken, groupId: 'unit-relay', restart: false });
      assert.equal(runner.isReady(), false);
    },
  );

  test(
    'a record error escaping the handler fails the stage instead of being retried or dead-lettered',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const options = runnerOptions(fake, async () => {
        throw new PipelineError(ErrorCodes.SCHEMA_VIOLATION, 'one of these is bad');
      });
      const runner = await startRunner(t, options, fake);

      const batch = fake.deliver({ firstOffset: 0, count: 3 });
      const wholeChunk = /handler threw a record error for a whole chunk: one of these is bad/;
      await assert.rejects(batch.done, wholeChunk);
      const failure = await runner.failed;
      assert.match(failure.message, wholeChunk);
      assert.equal(dispositionOf(failure), 'fatal');
      assert.equal(fake.sends.length, 0, 'nothing dead-lettered');
      assert.deepEqual(batch.resolved, []);
      assert.equal(await metric(options.metrics.retries), 0);
    },
  );

  for (const [type, code, retriable] of [
    ['REBALANCE_IN_PROGRESS', 27, false],
    ['UNKNOWN_MEMBER_ID', 25, false],
    ['ILLEGAL_GENERATION', 22, false],
    ['NOT_COORDINATOR_FOR_GROUP', 16, true],
  ] as const) {
    test(
      `a rebalance-type kafkajs error (${type}) ends the batch without failing the stage`,
      QUICK,
      async (t) => {
        const fake = fakeKafka();
        let handled = 0;
        const options = runnerOptions(fake, async (records) => {
          handled += 1;
          return relay(records);
        });
        const runner = await startRunner(t, options, fake);
        const failed = watch(runner.failed);

        const batch = fake.deliver({ firstOffset: 0, count: 6 });
        const rebalance = protocolError(type, code, retriable);
        // the heartbeat after the first chunk learns that the group is rebalancing
        batch.heartbeatError = rebalance;
        await assert.rejects(batch.done, (error) => error === rebalance);
        await nextTurn();
        assert.equal(failed.settled, false, '`failed` does not settle');
        assert.equal(runner.isReady(), true);
        assert.equal(handled, 1, 'the rest of the batch is left to the next generation');
        assert.deepEqual(batch.resolved, ['2']);
      },
    );
  }
});

describe('stage runner: the expedited lane (priorityTopics)', () => {
  const PRIO = 'unit.in.priority';

  test(
    'a normal batch is handled in the background, its partition held, while an expedited batch goes through',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const releaseNormal = deferred();
      const order: string[] = [];
      const options = runnerOptions(
        fake,
        async (records) => {
          const topic = records[0]!.topic;
          order.push(`start ${topic}`);
          if (topic === IN) await releaseNormal.promise;
          order.push(`end ${topic}`);
          return relay(records);
        },
        { topics: [PRIO, IN], priorityTopics: [PRIO] },
      );
      await startRunner(t, options, fake);

      const normal = fake.deliver({ topic: IN, firstOffset: 0, count: 2 });
      await normal.done;
      assert.deepEqual(normal.resolved, [], 'eachBatch returned before the normal chunk was handled');
      assert.ok(fake.consumer.paused.has(`${IN}:0`), 'its partition is held, so it is not fetched twice');
      assert.ok(!fake.consumer.paused.has(PRIO));
      await until(() => order.includes(`start ${IN}`), 'the normal chunk is in its handler');

      const expedited = fake.deliver({ topic: PRIO, firstOffset: 5, count: 1 });
      await expedited.done;
      assert.deepEqual(expedited.resolved, ['5'], 'the expedited chunk did not wait for the normal one');

      releaseNormal.resolve();
      await until(() => normal.resolved.length === 1, 'the normal chunk finishes in the background');
      assert.deepEqual(normal.resolved, ['1']);
      await until(() => !fake.consumer.paused.has(`${IN}:0`), 'the partition is released');
      assert.deepEqual(order, [`start ${IN}`, `start ${PRIO}`, `end ${PRIO}`, `end ${IN}`]);
    },
  );

  test('the downstream-backlog pause holds the normal lane only', QUICK, async (t) => {
    const fake = fakeKafka();
    fake.produced.set(OUT, 50);
    fake.downstreamCommitted.set(OUT, 0);
    const options = runnerOptions(fake, relay, {
      topics: [PRIO, IN],
      priorityTopics: [PRIO],
      backlog: {
        downstreamGroupId: 'unit-next-stage',
        downstreamTopics: [OUT],
        pauseWhenBacklogAbove: 4,
        resumeWhenBacklogBelow: 2,
        checkIntervalMs: 60_000,
      },
    });
    await startRunner(t, options, fake);
    assert.ok(fake.consumer.paused.has(IN), 'the normal lane waits for the downstream backlog');
    assert.ok(!fake.consumer.paused.has(PRIO), 'the expedited lane does not');
    const expedited = fake.deliver({ topic: PRIO, firstOffset: 0, count: 2 });
    await expedited.done;
    assert.deepEqual(expedited.resolved, ['1'], 'and its chunks are handled while the backlog lasts');
  });

  test('a fatal failure in a background batch fails the stage', QUICK, async (t) => {
    const fake = fakeKafka();
    const options = runnerOptions(
      fake,
      async () => {
        throw new Error('a bug');
      },
      { topics: [PRIO, IN], priorityTopics: [PRIO] },
    );
    const runner = await startRunner(t, options, fake);
    await fake.deliver({ topic: IN, firstOffset: 0, count: 1 }).done;
    const error = await runner.failed;
    assert.match(error.message, /a bug/);
  });

  test('a background chunk that finishes after a rebalance resolves nothing', QUICK, async (t) => {
    const fake = fakeKafka();
    const release = deferred();
    const options = runnerOptions(
      fake,
      async (records) => {
        await release.promise;
        return relay(records);
      },
      { topics: [PRIO, IN], priorityTopics: [PRIO] },
    );
    const runner = await startRunner(t, options, fake);
    const normal = fake.deliver({ topic: IN, firstOffset: 0, count: 2 });
    await normal.done;
    fake.emit('GROUP_JOIN', { memberId: 'member-1', memberAssignment: { [IN]: [1], [PRIO]: [0] } });
    release.resolve();
    await runner.stop();
    assert.deepEqual(normal.resolved, []);
    assert.deepEqual(fake.committed, []);
  });
});

describe('stage runner: offset commits', () => {
  test(
    'acknowledged offsets are committed by the interval timer, the newest per partition',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const options = runnerOptions(fake, relay, { maxBatchRecords: 2, commitIntervalMs: 20 });
      await startRunner(t, options, fake);
      await fake.deliver({ firstOffset: 0, count: 3 }).done;
      await fake.deliver({ firstOffset: 7, count: 2, partition: 1 }).done;
      await until(() => fake.committed.length >= 2, 'the timer commits');
      assert.deepEqual([...fake.committed].sort(), ['unit.in:0@3', 'unit.in:1@9']);
    },
  );

  test('a failed commit keeps its offsets for the next attempt', QUICK, async (t) => {
    const fake = fakeKafka();
    fake.commitFailures.push(protocolError('REBALANCE_IN_PROGRESS', 27, true));
    const options = runnerOptions(fake, relay, { commitIntervalMs: 20 });
    await startRunner(t, options, fake);
    await fake.deliver({ firstOffset: 10, count: 4 }).done;
    await until(() => fake.committed.length === 1, 'the second attempt commits');
    assert.deepEqual(fake.committed, ['unit.in:0@14']);
    assert.equal(fake.commitFailures.length, 0, 'the first attempt failed');
  });

  test('after a rebalance, offsets of partitions this member lost are not committed', QUICK, async (t) => {
    const fake = fakeKafka();
    const options = runnerOptions(fake, relay, { commitIntervalMs: 60_000 });
    const runner = await startRunner(t, options, fake);
    await fake.deliver({ firstOffset: 0, count: 2, partition: 0 }).done;
    await fake.deliver({ firstOffset: 5, count: 2, partition: 1 }).done;
    fake.emit('GROUP_JOIN', { memberId: 'member-1', memberAssignment: { [IN]: [1] } });
    await runner.stop();
    assert.deepEqual(fake.committed, ['unit.in:1@7']);
  });
});

describe('stage runner: shutdown and heartbeats', () => {
  test(
    'stop() during a chunk: the chunk in flight finishes, nothing after it is resolved',
    QUICK,
    async (t) => {
      const fake = fakeKafka();
      const secondChunk = deferred();
      const release = deferred();
      let handled = 0;
      const options = runnerOptions(fake, async (records) => {
        handled += 1;
        if (handled === 2) {
          secondChunk.resolve();
          await release.promise;
        }
        return relay(records);
      });
      const runner = await startRunner(t, options, fake);

      const batch = fake.deliver({ firstOffset: 0, count: 9 });
      await secondChunk.promise;
      const stopped = runner.stop();
      assert.equal(runner.isReady(), false, 'not ready once stopping');
      await nextTurn();
      assert.ok(!fake.log.includes('producer.disconnect'), 'the producer stays up for the chunk in flight');

      release.resolve();
      await stopped;
      await batch.done;
      assert.equal(handled, 2, 'the third chunk is not started');
      assert.equal(await metric(options.metrics.recordsIn), 6, 'nor taken in');
      assert.deepEqual(batch.resolved, ['2', '5']);
      assert.equal(fake.sends.length, 2);
      assert.deepEqual(fake.log, [
        'send unit.out:3',
        'resolve 0:2',
        'send unit.out:3',
        'resolve 0:5',
        'commit unit.in:0@6',
        'consumer.disconnect',
        'producer.disconnect',
      ]);
    },
  );

  test('stop() during a retry backoff resolves nothing and lifts the retry pause', QUICK, async (t) => {
    const fake = fakeKafka();
    const options = runnerOptions(
      fake,
      async () => {
        throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'store unavailable');
      },
      { retryDelayMs: 50, maxRetryDelayMs: 50 },
    );
    const runner = await startRunner(t, options, fake);
    const failed = watch(runner.failed);

    const batch = fake.deliver({ firstOffset: 0, count: 3 });
    await until(() => fake.consumer.paused.has(IN), 'the runner pauses to retry');
    await runner.stop();
    await batch.done;
    assert.deepEqual(batch.resolved, []);
    assert.equal(await metric(options.metrics.paused), 0);
    assert.equal(failed.settled, false, 'stopping is not a failure');
  });

  test('heartbeats are sent while a slow handler runs and while its produce waits', QUICK, async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const fake = fakeKafka();
    const handlerStarted = deferred();
    const handlerDone = deferred();
    const ack = deferred();
    fake.onSend = () => ack.promise;
    const options = runnerOptions(fake, async (records) => {
      handlerStarted.resolve();
      await handlerDone.promise;
      return relay(records);
    });
    await startRunner(t, options, fake);

    const batch = fake.deliver({ firstOffset: 0, count: 3 });
    await handlerStarted.promise;
    assert.equal(batch.heartbeats, 0);
    t.mock.timers.tick(1600); // sessionTimeoutMs 5000 → every 500 ms
    assert.equal(batch.heartbeats, 3, 'three heartbeats while the handler runs');

    handlerDone.resolve();
    await until(() => fake.sends.length === 1, 'the chunk is produced');
    t.mock.timers.tick(500);
    assert.equal(batch.heartbeats, 4, 'and while the produce waits for its ack');

    ack.resolve();
    await batch.done;
    assert.equal(batch.heartbeats, 5, 'one more once the chunk is resolved');
    t.mock.timers.tick(5000);
    assert.equal(batch.heartbeats, 5, 'no heartbeats once the chunk is done');
  });
});
