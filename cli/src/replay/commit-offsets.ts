import type { Session } from '../session.ts';

export interface TopicOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

/** How long the short-lived member may take to join the group. */
const JOIN_TIMEOUT_MS = 20_000;

/**
 * Sets the committed offsets of an EMPTY group: one short-lived member joins, commits
 * them and leaves. kafkajs's admin.setOffsets does the same, but one join per topic,
 * each waiting for a 5 s fetch (the ingestor's three topics took 11 s); this joins once
 * with a 100 ms fetch wait. The caller has made sure the group has no members: joining a
 * group with members would make the stage rebalance.
 */
export async function commitGroupOffsets(
  session: Session,
  groupId: string,
  offsets: readonly TopicOffsets[],
): Promise<void> {
  if (offsets.length === 0) return;
  const consumer = await session.consumer({
    groupId,
    maxWaitTimeInMs: 100,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
  });
  try {
    let timer: NodeJS.Timeout | undefined;
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      timer = setTimeout(
        () => reject(new Error(`could not join group ${groupId} in ${JOIN_TIMEOUT_MS / 1000} s`)),
        JOIN_TIMEOUT_MS,
      );
    });
    await consumer.subscribe({ topics: offsets.map(({ topic }) => topic), fromBeginning: true });
    // Nothing is processed and nothing is committed but the offsets below.
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} });
    consumer.pause(offsets.map(({ topic }) => ({ topic })));
    try {
      await joined;
    } finally {
      clearTimeout(timer);
    }
    await consumer.commitOffsets(
      offsets.flatMap(({ topic, partitions }) =>
        partitions.map(({ partition, offset }) => ({ topic, partition, offset })),
      ),
    );
  } finally {
    // Leaves the group, so the stage joins an empty group again.
    await consumer.disconnect();
  }
}
