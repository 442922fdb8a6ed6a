/**
 * Reads a topic for a person (tail, dlq) without leaving a trace: a consumer group of its
 * own with a random name, no offset ever committed, deleted at the end. A pipeline's
 * groups are never joined, so reading never moves a stage.
 */
import { randomUUID } from 'node:crypto';
import type { EachBatchPayload } from 'kafkajs';
import { CliError, ExitCodes } from '../exit.ts';
import type { RawRecord } from '../records/render.ts';
import type { Session } from '../session.ts';

export interface ReadSpec {
  readonly topic: string;
  /** What the read is for; part of the throwaway group's name, so it can be recognised. */
  readonly purpose: string;
  /** Where each partition starts: the oldest retained record, the end, or given offsets. */
  readonly start: 'earliest' | 'latest' | ReadonlyMap<number, string>;
  /**
   * A bounded read: stop once each listed partition has been read up to this offset
   * (exclusive). Partitions not listed are not read. Without it, the read follows the topic.
   */
  readonly end?: ReadonlyMap<number, bigint>;
  readonly signal: AbortSignal;
  /** Each record, in order within its partition; resolve false to stop reading. */
  onRecord(record: RawRecord): Promise<boolean> | boolean;
  /**
   * A bounded read gives up when nothing arrives for this long (a tail compacted or
   * deleted under it); the default is 10 s.
   */
  readonly idleMs?: number;
}

/** How a read ended: every partition read to its end, onRecord said stop, the signal, or idle. */
export type ReadEnd = 'end' | 'stopped' | 'aborted' | 'idle';

/** The end offsets (high watermarks) of a topic now: what a bounded read reads up to. */
export async function endOffsetsNow(session: Session, topic: string): Promise<Map<number, bigint>> {
  const offsets = await fetchOffsets(session, topic);
  return new Map(offsets.map(({ partition, high }) => [partition, BigInt(high)]));
}

async function fetchOffsets(session: Session, topic: string) {
  const admin = await session.admin();
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) {
    throw new CliError(ExitCodes.FAILED, `topic ${topic} does not exist`);
  }
  return admin.fetchTopicOffsets(topic);
}

export async function readTopic(session: Session, spec: ReadSpec): Promise<ReadEnd> {
  const offsets = await fetchOffsets(session, spec.topic);
  const { start, end } = spec;
  // Partitions still to be read up to their end, in a bounded read.
  const remaining = new Map<number, bigint>();
  if (end) {
    for (const { partition, low } of offsets) {
      const limit = end.get(partition);
      if (limit === undefined) continue;
      const from = start instanceof Map ? BigInt(start.get(partition) ?? limit) : BigInt(low);
      if (start !== 'latest' && from < limit) remaining.set(partition, limit);
    }
    if (remaining.size === 0) return 'end';
  }
  if (spec.signal.aborted) return 'aborted';

  const groupId = `patternflow-cli.${spec.purpose}.${randomUUID()}`;
  const consumer = await session.consumer({
    groupId,
    maxWaitTimeInMs: 250,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
  });

  let finished = false;
  let settle: (end: ReadEnd) => void = () => {};
  let fail: (error: unknown) => void = () => {};
  const ended = new Promise<ReadEnd>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  // A crash while the consumer still joins rejects this before it is awaited: handled here,
  // so Node does not end the process on an unhandled rejection; the await below rethrows it.
  ended.catch(() => {});
  const finish = (how: ReadEnd) => {
    finished = true;
    settle(how);
  };
  const onAbort = () => finish('aborted');
  spec.signal.addEventListener('abort', onAbort, { once: true });
  const idleMs = spec.idleMs ?? 10_000;
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (!end) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish('idle'), idleMs);
  };

  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) fail(payload.error);
  });

  const eachBatch = async ({ batch }: EachBatchPayload) => {
    if (finished) return;
    armIdle();
    const { partition } = batch;
    const limit = remaining.get(partition);
    if (end && limit === undefined) return;
    for (const message of batch.messages) {
      if (finished) return;
      const offset = BigInt(message.offset);
      if (limit !== undefined && offset >= limit) break;
      const keepReading = await spec.onRecord({
        topic: batch.topic,
        partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key,
        value: message.value,
        ...(message.headers ? { headers: message.headers } : {}),
      });
      if (!keepReading) return finish('stopped');
    }
    // By the batch's last offset, not its last record: offsets a compaction or a
    // transaction marker took are passed too.
    if (limit !== undefined && BigInt(batch.lastOffset()) + 1n >= limit) {
      remaining.delete(partition);
      if (remaining.size === 0) finish('end');
    }
  };

  try {
    await consumer.subscribe({ topic: spec.topic, fromBeginning: start === 'earliest' });
    await consumer.run({
      autoCommit: false,
      eachBatch: async (payload) => {
        try {
          await eachBatch(payload);
        } catch (error) {
          fail(error);
        }
      },
    });
    if (start instanceof Map) {
      for (const [partition, offset] of start) consumer.seek({ topic: spec.topic, partition, offset });
    }
    armIdle();
    return await ended;
  } finally {
    spec.signal.removeEventListener('abort', onAbort);
    if (idleTimer) clearTimeout(idleTimer);
    await consumer.disconnect().catch(() => undefined);
    // Nothing was committed, so the group holds nothing; deleting it leaves no name behind.
    const admin = await session.admin();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
}
