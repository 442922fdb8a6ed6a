/**
 * Latency figures from the rows of a run and the commit times of the commit probe
 * (commit-probe.ts): the durable latency (commit seen − ingest_time) of each row, its
 * distribution overall and per lane, and the per-hop split from the stage timestamps.
 * Percentiles are nearest-rank, as for the relay latency (limits/kafka-admin.ts).
 */
import { percentile, round } from './limits/kafka-admin.ts';

/** One row of the patterns table, its timestamps in ms since the epoch. */
export interface LatencyRow {
  id: string;
  lane: string;
  /** `xmin::text`: the transaction that inserted the row. */
  xid: string;
  ingestMs: number;
  inferredMs: number;
  routedMs: number;
  writtenMs: number;
}

export interface Distribution {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface Quantiles {
  p50: number;
  p99: number;
}

export interface LaneLatency extends Quantiles {
  count: number;
}

export interface DurableLatency {
  /** commit seen by the listener − ingest_time (the Kafka CreateTime of the ingest record). */
  durable: Distribution;
  perLane: Record<string, LaneLatency>;
  /** written_at − ingest_time: up to the start of the sink's transaction (the former figure). */
  writtenAt: Quantiles;
  hopsMs: Record<'ingestToInferred' | 'inferredToRouted' | 'routedToWritten' | 'writtenToDurable', Quantiles>;
  /** Rows whose transaction's commit was never seen: not counted in the figures above. */
  withoutCommit: number;
  /** Commit time of the last row to become durable (ms since the epoch), or null. */
  lastCommitAt: number | null;
}

export function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 50), 1),
    p95: round(percentile(sorted, 95), 1),
    p99: round(percentile(sorted, 99), 1),
    max: round(sorted[sorted.length - 1] ?? Number.NaN, 1),
    mean: round(mean, 1),
  };
}

function quantiles(values: number[]): Quantiles {
  const { p50, p99 } = distribution(values);
  return { p50, p99 };
}

/** `laneOrder`: the order of perLane's keys (the policy's lanes); other lanes follow by name. */
export function durableLatency(
  rows: readonly LatencyRow[],
  commits: ReadonlyMap<string, number>,
  laneOrder: readonly string[] = [],
): DurableLatency {
  const durable: number[] = [];
  const byLane = new Map<string, number[]>();
  const hops = {
    ingestToInferred: [],
    inferredToRouted: [],
    routedToWritten: [],
    writtenToDurable: [],
  } as Record<keyof DurableLatency['hopsMs'], number[]>;
  const writtenAt: number[] = [];
  let withoutCommit = 0;
  let lastCommitAt: number | null = null;
  for (const row of rows) {
    writtenAt.push(row.writtenMs - row.ingestMs);
    hops.ingestToInferred.push(row.inferredMs - row.ingestMs);
    hops.inferredToRouted.push(row.routedMs - row.inferredMs);
    hops.routedToWritten.push(row.writtenMs - row.routedMs);
    const committedAt = commits.get(row.xid);
    if (committedAt === undefined) {
      withoutCommit += 1;
      continue;
    }
    lastCommitAt = Math.max(lastCommitAt ?? committedAt, committedAt);
    const latency = committedAt - row.ingestMs;
    durable.push(latency);
    hops.writtenToDurable.push(committedAt - row.writtenMs);
    let lane = byLane.get(row.lane);
    if (!lane) {
      lane = [];
      byLane.set(row.lane, lane);
    }
    lane.push(latency);
  }
  const perLane: Record<string, LaneLatency> = {};
  const rank = (lane: string) => {
    const index = laneOrder.indexOf(lane);
    return index < 0 ? laneOrder.length : index;
  };
  const ordered = [...byLane].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  for (const [lane, values] of ordered) {
    const { count, p50, p99 } = distribution(values);
    perLane[lane] = { count, p50, p99 };
  }
  return {
    durable: distribution(durable),
    perLane,
    writtenAt: quantiles(writtenAt),
    hopsMs: {
      ingestToInferred: quantiles(hops.ingestToInferred),
      inferredToRouted: quantiles(hops.inferredToRouted),
      routedToWritten: quantiles(hops.routedToWritten),
      writtenToDurable: quantiles(hops.writtenToDurable),
    },
    withoutCommit,
    lastCommitAt,
  };
}
