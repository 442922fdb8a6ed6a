import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger } from '@patternflow/observability';
import kafkajs, { type Kafka } from 'kafkajs';
import { type BacklogLimit, createBacklogMonitor, PAUSE_KEPT_FOR_FAILED_CHECKS } from './backlog.ts';

// kafkajs spreads its error classes into module.exports (invisible to ESM named imports).
const { KafkaJSConnectionError } = kafkajs;

const logger = createLogger({ service: 'backlog-unit-test', level: 'silent' });
const OUT = 'unit.out';
const DOWNSTREAM = 'unit-router';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/**
 * A kafkajs admin answering like a broker: per topic partition a low and a high
 * watermark, and per consumer group its committed offsets; '-1' for a partition the group
 * never committed (also what kafkajs returns for a group that does not exist).
 */
function fakeAdmin() {
  const ends = new Map<string, { low: number; high: number }[]>();
  const committed = new Map<string, Map<string, number>>();
  const calls = { connect: 0, disconnect: 0, fetchOffsets: 0 };
  const state = {
    /** Thrown by every admin call while set. */
    failure: undefined as Error | undefined,
    /** While set, fetchTopicOffsets waits for it. */
    gate: undefined as Deferred | undefined,
  };
  const admin = {
    connect: async () => {
      calls.connect += 1;
      if (state.failure) throw state.failure;
    },
    disconnect: async () => {
      calls.disconnect += 1;
    },
    fetchOffsets: async ({ groupId, topics }: { groupId: string; topics: string[] }) => {
      calls.fetchOffsets += 1;
      if (state.failure) throw state.failure;
      return topics.map((topic) => ({
        topic,
        partitions: (ends.get(topic) ?? []).map((_, partition) => ({
          partition,
          offset: String(committed.get(groupId)?.get(`${topic}:${partition}`) ?? -1),
          metadata: null,
        })),
      }));
    },
    fetchTopicOffsets: async (topic: string) => {
      await state.gate?.promise;
      if (state.failure) throw state.failure;
      return (ends.get(topic) ?? []).map(({ low, high }, partition) => ({
        partition,
        offset: String(high),
        high: String(high),
        low: String(low),
      }));
    },
  };
  return {
    kafka: { admin: () => admin } as unknown as Kafka,
    calls,
    state,
    setEnds: (topic: string, partitions: { low: number; high: number }[]) => ends.set(topic, partitions),
    commit: (groupId: string, topic: string, partition: number, offset: number) => {
      const group = committed.get(groupId) ?? new Map<string, number>();
      group.set(`${topic}:${partition}`, offset);
      committed.set(groupId, group);
    },
  };
}

type FakeAdmin = ReturnType<typeof fakeAdmin>;

const limit: BacklogLimit = {
  downstreamGroupId: DOWNSTREAM,
  downstreamTopics: [OUT],
  pauseWhenBacklogAbove: 100,
  resumeWhenBacklogBelow: 50,
  checkIntervalMs: 1000,
};

/**
 * A monitor on the fake admin, with setTimeout under fake timers so that each periodic
 * check runs exactly when the test ticks. `changes` lists every onChange(overLimit).
 */
async function startMonitor(t: TestContext, fake: FakeAdmin, overrides: Partial<BacklogLimit> = {}) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const changes: boolean[] = [];
  const monitor = createBacklogMonitor({
    kafka: fake.kafka,
    limit: { ...limit, ...overrides },
    logger,
    onChange: (over) => changes.push(over),
  });
  t.after(() => monitor.stop());
  await monitor.start();
  /** Runs the next periodic check to its end. */
  const nextCheck = async () => {
    const before = fake.calls.fetchOffsets;
    t.mock.timers.tick(limit.checkIntervalMs);
    for (let i = 0; i < 10; i += 1) await nextTurn();
    assert.equal(fake.calls.fetchOffsets, before + 1, 'one check ran');
  };
  return { monitor, changes, nextCheck };
}

/** One partition of OUT with `backlog` records the downstream group has not consumed. */
function setBacklog(fake: FakeAdmin, backlog: number, high = 1000) {
  fake.setEnds(OUT, [{ low: 0, high }]);
  fake.commit(DOWNSTREAM, OUT, 0, high - backlog);
}

describe('backlog monitor: thresholds', () => {
  test('pauses only once the backlog is above pauseWhenBacklogAbove, summed over partitions', async (t) => {
    const fake = fakeAdmin();
    fake.setEnds(OUT, [
      { low: 0, high: 60 },
      { low: 0, high: 50 },
    ]);
    fake.commit(DOWNSTREAM, OUT, 0, 10);
    fake.commit(DOWNSTREAM, OUT, 1, 0);
    const { monitor, changes, nextCheck } = await startMonitor(t, fake);
    assert.equal(await monitor.measure(), 100);
    assert.deepEqual(changes, [], 'exactly at the limit is not over it');

    fake.setEnds(OUT, [
      { low: 0, high: 61 },
      { low: 0, high: 50 },
    ]);
    await nextCheck();
    assert.deepEqual(changes, [true]);
  });

  test('hysteresis: resumes only below resumeWhenBacklogBelow, pauses again only above the pause limit', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 150);
    const { changes, nextCheck } = await startMonitor(t, fake);
    assert.deepEqual(changes, [true], 'the check at start already pauses');

    setBacklog(fake, 60);
    await nextCheck();
    assert.deepEqual(changes, [true], 'between the thresholds: still paused');
    setBacklog(fake, 50);
    await nextCheck();
    assert.deepEqual(changes, [true], 'at the resume threshold: still paused');
    setBacklog(fake, 49);
    await nextCheck();
    assert.deepEqual(changes, [true, false], 'resumed below it');

    setBacklog(fake, 80);
    await nextCheck();
    assert.deepEqual(changes, [true, false], 'between the thresholds: still running');
    setBacklog(fake, 101);
    await nextCheck();
    assert.deepEqual(changes, [true, false, true]);
  });
});

describe('backlog monitor: records produced between measurements', () => {
  test('noteProduced pauses at once, without waiting for the next check', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 90);
    const { monitor, changes } = await startMonitor(t, fake);
    const checks = fake.calls.fetchOffsets;

    monitor.noteProduced(10);
    assert.deepEqual(changes, [], '100 is not over the limit');
    monitor.noteProduced(1);
    assert.deepEqual(changes, [true]);
    assert.equal(fake.calls.fetchOffsets, checks, 'decided from the count, not from a new measurement');
  });

  test('records produced while a measurement is in flight are added to it', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 0);
    const { monitor, changes, nextCheck } = await startMonitor(t, fake);

    // The measurement reads the end offsets before these 30 records land: 80 + 30 > 100.
    setBacklog(fake, 80);
    fake.state.gate = deferred();
    t.mock.timers.tick(limit.checkIntervalMs);
    await nextTurn();
    monitor.noteProduced(30);
    assert.deepEqual(changes, [], 'the old estimate (0) + 30 is under the limit');
    fake.state.gate.resolve();
    fake.state.gate = undefined;
    for (let i = 0; i < 10; i += 1) await nextTurn();
    assert.deepEqual(changes, [true]);

    // Once a measurement sees them, they are not counted twice: the backlog drains to 0.
    setBacklog(fake, 0);
    await nextCheck();
    assert.deepEqual(changes, [true, false]);
  });
});

describe('backlog monitor: downstream groups without committed offsets', () => {
  test('a group with no committed offsets is measured from the low watermark', async () => {
    const fake = fakeAdmin();
    fake.setEnds(OUT, [
      { low: 400, high: 500 },
      { low: 0, high: 70 },
    ]);
    fake.commit(DOWNSTREAM, OUT, 1, 70);
    const monitor = createBacklogMonitor({ kafka: fake.kafka, limit, logger, onChange: () => {} });
    try {
      // partition 0 never committed: high - low = 100; partition 1 is caught up
      assert.equal(await monitor.measure(), 100);
      const nobody = createBacklogMonitor({
        kafka: fake.kafka,
        limit: { ...limit, downstreamGroupId: 'a-group-that-never-committed' },
        logger,
        onChange: () => {},
      });
      assert.equal(await nobody.measure(), 170, 'every partition from its low watermark');
      nobody.stop();
    } finally {
      monitor.stop();
    }
  });

  // Why every stage must compute its downstream's group id from the same settings (the
  // regression test of that is in libs/service/config.test.ts): a group that never
  // committed counts everything from the low watermark, so watching the wrong id keeps the
  // stage paused although its real downstream is caught up.
  test('watching a group id that never committed counts the whole topic as backlog, whatever the real downstream does', async (t) => {
    const fake = fakeAdmin();
    fake.setEnds(OUT, [{ low: 0, high: 500 }]);
    // The real downstream group (overridden id) has consumed everything…
    fake.commit('router-with-overridden-group-id', OUT, 0, 500);
    // …but the monitor watches the default id, which never committed anything.
    const { monitor, changes, nextCheck } = await startMonitor(t, fake);
    assert.equal(await monitor.measure(), 500);
    assert.deepEqual(changes, [true]);
    for (let i = 0; i < 5; i += 1) await nextCheck();
    assert.deepEqual(changes, [true], 'never resumes, whatever the real downstream does');
  });
});

describe('backlog monitor: admin failures', () => {
  test('start() does not fail when the admin is unreachable; the next check connects again', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 500);
    fake.state.failure = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED');
    const { changes } = await startMonitor(t, fake);
    assert.deepEqual(changes, [], 'not knowing the backlog does not pause');
    assert.equal(fake.calls.connect, 1);

    fake.state.failure = undefined;
    t.mock.timers.tick(limit.checkIntervalMs);
    for (let i = 0; i < 10; i += 1) await nextTurn();
    assert.equal(fake.calls.connect, 2, 'the failed connect is retried');
    assert.deepEqual(changes, [true]);
  });

  test('a failing measurement keeps the last decision; the next good one decides again', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 500);
    const { changes, nextCheck } = await startMonitor(t, fake);
    assert.deepEqual(changes, [true]);

    setBacklog(fake, 0);
    fake.state.failure = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED');
    await nextCheck();
    await nextCheck();
    assert.deepEqual(changes, [true], 'still paused while the backlog cannot be measured');

    fake.state.failure = undefined;
    await nextCheck();
    assert.deepEqual(changes, [true, false]);
  });

  // Regression: with the admin client broken for good (ACLs changed, a broker refusing
  // OffsetFetch) a paused stage stayed paused indefinitely while looking healthy.
  test('a pause that can no longer be verified is released after PAUSE_KEPT_FOR_FAILED_CHECKS failed checks', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 500);
    const { changes, nextCheck } = await startMonitor(t, fake);
    fake.state.failure = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED');
    for (let i = 0; i < PAUSE_KEPT_FOR_FAILED_CHECKS - 1; i += 1) await nextCheck();
    assert.deepEqual(changes, [true], 'kept while the outage is short');
    await nextCheck();
    assert.deepEqual(changes, [true, false], 'released once it is not');
    fake.state.failure = undefined;
    await nextCheck();
    assert.deepEqual(changes, [true, false, true], 'the next good measurement decides again');
  });
});

describe('backlog monitor: stop', () => {
  test('stop() ends the periodic checks and disconnects the admin', async (t) => {
    const fake = fakeAdmin();
    setBacklog(fake, 0);
    const { monitor } = await startMonitor(t, fake);
    const checks = fake.calls.fetchOffsets;
    monitor.stop();
    assert.equal(fake.calls.disconnect, 1);
    t.mock.timers.tick(limit.checkIntervalMs * 10);
    for (let i = 0; i < 10; i += 1) await nextTurn();
    assert.equal(fake.calls.fetchOffsets, checks, 'no check after stop()');
  });
});
