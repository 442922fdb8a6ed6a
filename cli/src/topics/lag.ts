import type { Admin } from 'kafkajs';

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** The group's committed offset, or null when it has committed none on this partition. */
  readonly committed: string | null;
  readonly end: string;
  /** Records the group still has to read: from its commit, or from the oldest retained record. */
  readonly lag: number;
}

export interface CommittedOffsets {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

export interface EndOffsets {
  topic: string;
  partitions: { partition: number; low: string; high: string }[];
}

/**
 * Lag per partition. Without a commit a stage starts from the oldest retained record
 * (its consumers subscribe from the beginning), so all of it counts, as the backlog
 * monitor counts it (libs/kafka/backlog.ts).
 */
export function computeLag(
  committed: readonly CommittedOffsets[],
  ends: readonly EndOffsets[],
): PartitionLag[] {
  const rows: PartitionLag[] = [];
  for (const { topic, partitions } of ends) {
    const commits = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
    for (const { partition, low, high } of partitions) {
      const offset = commits.find((entry) => entry.partition === partition)?.offset;
      const hasCommit = offset !== undefined && Number(offset) >= 0;
      const from = hasCommit ? Number(offset) : Number(low);
      rows.push({
        topic,
        partition,
        committed: hasCommit ? (offset as string) : null,
        end: high,
        lag: Math.max(0, Number(high) - from),
      });
    }
  }
  return rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** Low and high watermarks of each topic (topics that do not exist are left out). */
export async function endOffsets(admin: Admin, topics: readonly string[]): Promise<EndOffsets[]> {
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((topic) => existing.has(topic));
  return Promise.all(
    present.map(async (topic) => ({
      topic,
      partitions: (await admin.fetchTopicOffsets(topic)).map(({ partition, low, high }) => ({
        partition,
        low,
        high,
      })),
    })),
  );
}

export async function groupLag(
  admin: Admin,
  groupId: string,
  topics: readonly string[],
): Promise<PartitionLag[]> {
  const ends = await endOffsets(admin, topics);
  if (ends.length === 0) return [];
  const committed = await admin.fetchOffsets({ groupId, topics: ends.map((end) => end.topic) });
  return computeLag(committed, ends);
}
