/**
 * What `replay` does to a stage's consumer group: per input partition, from the group's
 * committed offset back to the first offset at or after --from. A replay only ever moves
 * a group back: a partition the group has not read up to --from yet keeps its offset
 * (moving it forward would skip records), and one without a commit is read from its
 * oldest record anyway.
 */
import { formatTable } from '../output.ts';
import type { CommittedOffsets } from '../topics/lag.ts';

export type ReplayAction = 'rewind' | 'at-target' | 'not-there-yet' | 'no-commit';

export interface ReplayRow {
  topic: string;
  partition: number;
  /** The group's committed offset (the next record it reads), null without a commit. */
  current: string | null;
  /** The first offset whose record is at or after --from (the end when there is none). */
  target: string;
  action: ReplayAction;
  /** Records the stage will read again. */
  records: number;
}

export interface OffsetsAtTime {
  topic: string;
  partitions: { partition: number; offset: string }[];
}

export function planReplay(
  committed: readonly CommittedOffsets[],
  atTime: readonly OffsetsAtTime[],
): ReplayRow[] {
  const rows: ReplayRow[] = [];
  for (const { topic, partitions } of atTime) {
    const commits = committed.find((entry) => entry.topic === topic)?.partitions ?? [];
    for (const { partition, offset: target } of partitions) {
      const offset = commits.find((entry) => entry.partition === partition)?.offset;
      const current = offset !== undefined && BigInt(offset) >= 0n ? offset : null;
      let action: ReplayAction;
      if (current === null) action = 'no-commit';
      else if (BigInt(target) < BigInt(current)) action = 'rewind';
      else if (BigInt(target) === BigInt(current)) action = 'at-target';
      else action = 'not-there-yet';
      rows.push({
        topic,
        partition,
        current,
        target,
        action,
        records: action === 'rewind' ? Number(BigInt(current as string) - BigInt(target)) : 0,
      });
    }
  }
  return rows.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** The offsets to set, per topic: only the partitions that move back. */
export function rewinds(
  rows: readonly ReplayRow[],
): { topic: string; partitions: { partition: number; offset: string }[] }[] {
  const byTopic = new Map<string, { partition: number; offset: string }[]>();
  for (const row of rows) {
    if (row.action !== 'rewind') continue;
    byTopic.set(row.topic, [
      ...(byTopic.get(row.topic) ?? []),
      { partition: row.partition, offset: row.target },
    ]);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

const NOTES: Record<ReplayAction, string> = {
  rewind: 'replayed',
  'at-target': 'nothing after --from',
  'not-there-yet': 'kept: the group has not read up to --from yet',
  'no-commit': 'kept: no commit, read from the oldest record anyway',
};

export function renderPlan(rows: readonly ReplayRow[]): string {
  return formatTable(rows, [
    { header: 'TOPIC', value: (r) => r.topic },
    { header: 'PARTITION', value: (r) => r.partition, align: 'right' },
    { header: 'COMMITTED', value: (r) => r.current ?? '-', align: 'right' },
    { header: 'NEW', value: (r) => (r.action === 'rewind' ? r.target : '-'), align: 'right' },
    { header: 'RECORDS', value: (r) => r.records, align: 'right' },
    { header: 'NOTE', value: (r) => NOTES[r.action] },
  ]);
}
