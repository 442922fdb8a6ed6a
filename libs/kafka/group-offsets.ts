import type { Kafka } from 'kafkajs';

export interface TopicOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

/** How long the short-lived member may take to join the group. */
const JOIN_TIMEOUT_MS = 20_000;

/**
 * Sets the committed offsets of a group that has no members: one short-lived member
 * joins, commits exactly these offsets and leaves. (kafkajs's admin.setOffsets does the
 * same with one join per topic, each waiting out a 5 s fetch; this joins once and waits
 * 100 ms.) Throws when the group has members: joining would make a running stage
 * rebalance, and its own commits would overwrite these.
 */
export async function setOffsetsOfEmptyGroup(
  kafka: Kafka,
  groupId: string,
  offsets: readonly TopicOffsets[],
): Promise<void> {
  if (offsets.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [group] = (await admin.describeGroups([groupId])).groups;
    if (group && group.members.length > 0) {
      throw new Error(`group ${groupId} has ${group.members.length} member(s); its offsets cannot be set`);
    }
  } finally {
    await admin.disconnect();
  }
  const consumer = kafka.consumer({
    groupId,
    maxWaitTimeInMs: 100,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      timer = setTimeout(
        () => reject(new Error(`could not join group ${groupId} in ${JOIN_TIMEOUT_MS / 1000} s`)),
        JOIN_TIMEOUT_MS,
      );
    });
    // Awaited only once the consumer runs: a crash before that must not be an unhandled rejection.
    joined.catch(() => {});
    await consumer.connect();
    await consumer.subscribe({ topics: offsets.map(({ topic }) => topic), fromBeginning: true });
    // Nothing is processed, and nothing is committed but the offsets below.
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
    consumer.pause(offsets.map(({ topic }) => ({ topic })));
    await joined;
    await consumer.commitOffsets(
      offsets.flatMap(({ topic, partitions }) =>
        partitions.map(({ partition, offset }) => ({ topic, partition, offset })),
      ),
    );
  } finally {
    clearTimeout(timer);
    // Leaves the group: the stage joins an empty group again.
    await consumer.disconnect();
  }
}
