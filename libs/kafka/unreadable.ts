import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { setOffsetsOfEmptyGroup } from './group-offsets.ts';

/** Offsets [from, to) of one partition that the client cannot read. */
export interface UnreadableRange {
  topic: string;
  partition: number;
  /** First offset that cannot be read. */
  from: string;
  /** First offset after it that can: where a skip resumes. */
  to: string;
}

/** Each probe reads at most this much of the partition (a broker returns at least one whole batch). */
const WINDOW_BYTES = 50 * 1024 * 1024;

/**
 * Finds the batch a consumer group cannot get past. kafkajs fails a whole fetch without
 * saying which partition or offset broke it, so each partition the group was assigned is
 * probed from the group's committed offset with a throwaway consumer (own group, no
 * commits): `readsFrom(x)` reads from x; the unreadable range is found by two binary
 * searches — its end (the last x from which reading still fails, within one fetch window)
 * and its start (the first x whose own batch fails, reading one batch at a time).
 * Assumes one unreadable batch per partition near the committed offset; a second one is
 * found after the first is skipped.
 */
export async function locateUnreadableBatch(options: {
  kafka: Kafka;
  groupId: string;
  assignment: Readonly<Record<string, readonly number[]>>;
  logger: Logger;
  probeTimeoutMs?: number;
}): Promise<UnreadableRange | undefined> {
  const { kafka, logger } = options;
  const probeTimeoutMs = options.probeTimeoutMs ?? 15_000;
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const [topic, partitions] of Object.entries(options.assignment)) {
      const [committed] = await admin.fetchOffsets({ groupId: options.groupId, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      for (const partition of partitions) {
        const end = ends.find((e) => e.partition === partition);
        if (!end) continue;
        const low = BigInt(end.low);
        const high = BigInt(end.high);
        const done = BigInt(committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
        const start = done >= low ? done : low;
        if (start >= high) continue;
        const probe = (offset: bigint, oneBatch: boolean) =>
          readsFrom({ kafka, topic, partition, offset, oneBatch, timeoutMs: probeTimeoutMs });
        if (await probe(start, false)) continue;
        // The end: reading from `lo` fails, from `hi` it does not (or there is nothing).
        let lo = start;
        let hi = high;
        while (hi - lo > 1n) {
          const mid = lo + (hi - lo) / 2n;
          if (await probe(mid, false)) hi = mid;
          else lo = mid;
        }
        const to = hi;
        // The start: the first offset in [start, to) whose own batch cannot be read.
        let first = start;
        let last = to - 1n;
        while (first < last) {
          const mid = first + (last - first) / 2n;
          if (await probe(mid, true)) first = mid + 1n;
          else last = mid;
        }
        const range = { topic, partition, from: String(first), to: String(to) };
        logger.error(range, 'located the unreadable batch');
        return range;
      }
    }
    return undefined;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Whether a consumer can read `topic`/`partition` from `offset`: true once a batch of it
 * arrives (or the partition has nothing there), false when the consumer crashes.
 */
async function readsFrom(options: {
  kafka: Kafka;
  topic: string;
  partition: number;
  offset: bigint;
  oneBatch: boolean;
  timeoutMs: number;
}): Promise<boolean> {
  const { topic, partition } = options;
  const consumer = options.kafka.consumer({
    groupId: `patternflow.probe.${randomUUID()}`,
    maxBytes: options.oneBatch ? 1 : WINDOW_BYTES,
    maxBytesPerPartition: options.oneBatch ? 1 : WINDOW_BYTES,
    maxWaitTimeInMs: 100,
    retry: { retries: 0 },
  });
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => resolve(true), options.timeoutMs);
      const settle = (readable: boolean) => {
        clearTimeout(timer);
        resolve(readable);
      };
      consumer.on(consumer.events.CRASH, () => settle(false));
      (async () => {
        let positioned = false;
        // Before run(): kafkajs joins the group inside run(). The seek and the pause need the
        // group, and come before any fetch of this partition.
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const others = (payload.memberAssignment[topic] ?? []).filter((p) => p !== partition);
          if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
          if (!positioned) consumer.seek({ topic, partition, offset: String(options.offset) });
          positioned = true;
        });
        await consumer.connect();
        // From the end: nothing is fetched before the seek puts the position where we want it.
        await consumer.subscribe({ topics: [topic], fromBeginning: false });
        await consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const last = batch.messages[batch.messages.length - 1];
            if (batch.partition === partition && last && BigInt(last.offset) >= options.offset) settle(true);
          },
        });
      })().catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** What an operator skipped, as written to the audit topic. */
export interface SkipRecord extends UnreadableRange {
  groupId: string;
  reason: string;
  by: string;
  at: string;
}

/**
 * Moves `groupId` past an unreadable range and records it on `auditTopic` first (acks=all),
 * so that nothing is skipped silently. Refused while the group has members (their commits
 * would undo the move) or when the group is not at the range (it would skip readable
 * records, or the range was skipped already).
 */
export async function skipUnreadableRange(options: {
  kafka: Kafka;
  groupId: string;
  range: UnreadableRange;
  reason: string;
  by: string;
  auditTopic: string;
}): Promise<SkipRecord> {
  const { kafka, groupId, range } = options;
  if (!(BigInt(range.to) > BigInt(range.from)))
    throw new Error(`--to (${range.to}) must be above --from (${range.from})`);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [group] = (await admin.describeGroups([groupId])).groups;
    if (group && group.members.length > 0) {
      throw new Error(
        `group ${groupId} has ${group.members.length} active member(s): a stage that is still consuming would overwrite the offset`,
      );
    }
    const [committed] = await admin.fetchOffsets({ groupId, topics: [range.topic] });
    const offset = committed?.partitions.find((p) => p.partition === range.partition)?.offset ?? '-1';
    if (BigInt(offset) > BigInt(range.from)) {
      throw new Error(
        `group ${groupId} is at offset ${offset} of ${range.topic}/${range.partition}, past ${range.from}: nothing to skip`,
      );
    }
    // The stage consumes the readable records in front of the range before it reports it,
    // so its group stands at `from`; anywhere before, a skip would lose readable records.
    if (offset !== '-1' && BigInt(offset) < BigInt(range.from)) {
      throw new Error(
        `group ${groupId} is at offset ${offset}, before the unreadable range at ${range.from}: records ${offset}..${BigInt(range.from) - 1n} are readable; skipping would lose them`,
      );
    }
    const record: SkipRecord = {
      ...range,
      groupId,
      reason: options.reason,
      by: options.by,
      at: new Date().toISOString(),
    };
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({
        topic: options.auditTopic,
        acks: -1,
        messages: [{ key: `${groupId}/${range.topic}/${range.partition}`, value: JSON.stringify(record) }],
      });
    } finally {
      await producer.disconnect();
    }
    await setOffsetsOfEmptyGroup(kafka, groupId, [
      { topic: range.topic, partitions: [{ partition: range.partition, offset: range.to }] },
    ]);
    return record;
  } finally {
    await admin.disconnect();
  }
}
