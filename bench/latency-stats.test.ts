import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distribution, durableLatency, type LatencyRow } from './latency-stats.ts';

const row = (id: string, lane: string, xid: string, ingestMs: number, writtenMs: number): LatencyRow => ({
  id,
  lane,
  xid,
  ingestMs,
  inferredMs: ingestMs + 10,
  routedMs: ingestMs + 12,
  writtenMs,
});

test('durable latency is the commit time of the row’s transaction minus its ingest time', () => {
  // Two batches: xid 100 committed at 1050, xid 101 at 1090.
  const commits = new Map([
    ['100', 1050.5],
    ['101', 1090],
  ]);
  const rows = [
    row('a', 'critical', '100', 1000, 1040),
    row('b', 'bulk', '100', 1010, 1040),
    row('c', 'bulk', '101', 1020, 1080),
  ];
  const result = durableLatency(rows, commits, ['critical', 'standard', 'bulk']);
  assert.deepEqual(result.durable, { count: 3, p50: 50.5, p95: 70, p99: 70, max: 70, mean: 53.7 });
  assert.deepEqual(result.perLane, {
    critical: { count: 1, p50: 50.5, p99: 50.5 },
    bulk: { count: 2, p50: 40.5, p99: 70 },
  });
  // In the policy's order, not by name.
  assert.deepEqual(Object.keys(result.perLane), ['critical', 'bulk']);
  // The former figure stops at the start of the transaction.
  assert.deepEqual(result.writtenAt, { p50: 40, p99: 60 });
  assert.deepEqual(result.hopsMs.writtenToDurable, { p50: 10.5, p99: 10.5 });
  assert.deepEqual(result.hopsMs.ingestToInferred, { p50: 10, p99: 10 });
  assert.equal(result.withoutCommit, 0);
  assert.equal(result.lastCommitAt, 1090);
});

test('a row whose commit was never seen is counted apart, not given a latency', () => {
  const result = durableLatency(
    [row('a', 'standard', '7', 1000, 1005), row('b', 'standard', '8', 1000, 1005)],
    new Map([['7', 1020]]),
  );
  assert.equal(result.withoutCommit, 1);
  assert.equal(result.durable.count, 1);
  assert.equal(result.durable.p99, 20);
  assert.deepEqual(result.perLane, { standard: { count: 1, p50: 20, p99: 20 } });
});

test('percentiles are nearest-rank over the sorted values', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.deepEqual(distribution(values), { count: 100, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 });
});
