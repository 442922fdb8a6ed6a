/**
 * Reading a (small) topic to its end, then following it: the control plane's way to know the
 * routing policy in force. kafkajs cannot assign partitions without a consumer group, so the
 * follower has a group of its own that commits nothing and is deleted when it stops.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { kafkaFailure } from './kafka-errors.ts';
import { type InboundRecord, toInboundRecord } from './records.ts';

export interface TopicFollower {
  /**
   * Resolves once every record that was in the topic when the follower started (or, with
   * `lastPerPartition`, the last ones of each partition) went through `onRecord`. Rejects
   * with a PipelineError when that cannot happen (Kafka unreachable, the wait timed out).
   */
  readonly caughtUp: Promise<void>;
  /** Settles when the consumer stopped for good on an error it could not recover from. */
  readonly failed: Promise<Error>;
  /** Leaves and deletes the follower's group. */
  stop(): Promise<void>;
}

export interface FollowOptions {
  kafka: Kafka;
  topic: string;
  /** The follower's own group: it commits nothing and is deleted by stop(). */
  groupId: string;
  /** Called in offset order per partition; what it throws is logged and the record skipped. */
  onRecord(record: InboundRecord): void | Promise<void>;
  logger: Logger;
  /** Start this many records before each partition's end instead of at its beginning. */
  lastPerPartition?: number;
  /** How long catching up may take before caughtUp rejects (KAFKA_UNAVAILABLE). Default 30 s. */
  catchUpTimeoutMs?: number;
}

export function followTopic(options: FollowOptions): TopicFollower {
  const { kafka, topic, groupId, logger } = options;
  const consumer = kafka.consumer({
    groupId,
    // Records arrive as soon as they are written; this only bounds an idle poll, and stop()'s wait.
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    heartbeatInterval: 2_000,
  });
  let resolveCaughtUp: () => void = () => {};
  let rejectCaughtUp: (error: Error) => void = () => {};
  let isCaughtUp = false;
  const caughtUp = new Promise<void>((resolve, reject) => {
    resolveCaughtUp = () => {
      isCaughtUp = true;
      resolve();
    };
    rejectCaughtUp = reject;
  });
  caughtUp.catch(() => {}); // the caller may only look at it later
  let failWith: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    failWith = resolve;
  });
  let stopping = false;

  const started = (async () => {
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    let starts: Map<number, bigint>;
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
      starts = new Map(
        offsets.map((o) => {
          const low = BigInt(o.low);
          const tail = options.lastPerPartition;
          const from = tail === undefined ? low : BigInt(o.high) - BigInt(tail);
          return [o.partition, from > low ? from : low];
        }),
      );
    } finally {
      await admin.disconnect().catch(() => {});
    }
    // Partitions with records to read before we are caught up; kafkajs reports every batch it
    // went through (control records and compacted gaps included) with END_BATCH_PROCESS.
    const pending = new Set([...ends].filter(([p, end]) => end > (starts.get(p) ?? 0n)).map(([p]) => p));
    const settleIfDone = () => {
      if (!isCaughtUp && pending.size === 0) resolveCaughtUp();
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic !== topic) return;
      if (BigInt(payload.lastOffset) + 1n >= (ends.get(payload.partition) ?? 0n)) {
        pending.delete(payload.partition);
        settleIfDone();
      }
    });
    if (options.lastPerPartition !== undefined) {
      let positioned = false;
      // Inside run(), before the first fetch: kafkajs seeks only partitions it was assigned.
      consumer.on(consumer.events.GROUP_JOIN, () => {
        if (positioned) return;
        positioned = true;
        for (const [partition, offset] of starts) consumer.seek({ topic, partition, offset: String(offset) });
      });
    }
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return;
      const error = kafkaFailure(payload.error) ?? payload.error;
      if (!isCaughtUp) rejectCaughtUp(error);
      if (!stopping) failWith(error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: options.lastPerPartition === undefined });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        try {
          await options.onRecord(toInboundRecord(topic, partition, message));
        } catch (error) {
          logger.error({ err: error, topic, partition, offset: message.offset }, 'a followed record failed');
        }
      },
    });
    settleIfDone();
  })();
  started.catch((error: unknown) => {
    rejectCaughtUp(kafkaFailure(error) ?? (error as Error));
  });

  const timeoutMs = options.catchUpTimeoutMs ?? 30_000;
  const timer = setTimeout(() => {
    rejectCaughtUp(
      new PipelineError(
        ErrorCodes.KAFKA_UNAVAILABLE,
        `could not read topic ${topic} to its end within ${timeoutMs} ms`,
        { details: { topic, groupId } },
      ),
    );
  }, timeoutMs);
  timer.unref();
  caughtUp.then(
    () => clearTimeout(timer),
    () => clearTimeout(timer),
  );

  let stopped: Promise<void> | undefined;
  return {
    caughtUp,
    failed,
    stop() {
      stopping = true;
      stopped ??= (async () => {
        clearTimeout(timer);
        await started.catch(() => {});
        await consumer.disconnect().catch(() => {});
        // The group never committed anything; deleting it leaves nothing behind for `kafka-consumer-groups --list`.
        const admin = kafka.admin();
        try {
          await admin.connect();
          await admin.deleteGroups([groupId]);
        } catch {
          // Already gone, or the broker is away: an empty group without offsets expires by itself.
        } finally {
          await admin.disconnect().catch(() => {});
        }
      })();
      return stopped;
    },
  };
}

/**
 * Every record of `topic` (or the last ones of each partition), read once with a throwaway
 * group. A topic that does not exist reads as empty.
 */
export async function readTopicToEnd(options: Omit<FollowOptions, 'onRecord'>): Promise<InboundRecord[]> {
  const admin = options.kafka.admin();
  try {
    await admin.connect();
    if (!(await admin.listTopics()).includes(options.topic)) return [];
  } catch (error) {
    throw kafkaFailure(error) ?? error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
  const records: InboundRecord[] = [];
  const follower = followTopic({ ...options, onRecord: (record) => void records.push(record) });
  try {
    await follower.caughtUp;
  } finally {
    await follower.stop();
  }
  return records;
}
