import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConsumerSummary, parseProducerSummary } from './kafka-perf.ts';

// Output of Kafka 4.1.1's tools on the local stack (200,000 records of 1 KiB).
const PRODUCER_OUTPUT = `61818 records sent, 12363.6 records/sec (12.07 MB/sec), 1312.1 ms avg latency, 1848.0 ms max latency.
200000 records sent, 20772.7 records/sec (20.29 MB/sec), 1237.84 ms avg latency, 2024.00 ms max latency, 1150 ms 50th, 1852 ms 95th, 1992 ms 99th, 2010 ms 99.9th.
`;
const CONSUMER_OUTPUT = `start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-11-25 22:43:46:718, 2026-11-25 22:43:48:966, 195.3125, 86.8828, 200000, 88967.9715, 617, 1631, 119.7502, 122624.1570
`;

test('the producer summary is read from the final line, not a progress line', () => {
  assert.deepEqual(parseProducerSummary(PRODUCER_OUTPUT), {
    recordsPerSec: 20772.7,
    mbPerSec: 20.29,
    avgLatencyMs: 1237.84,
    maxLatencyMs: 2024,
    p50LatencyMs: 1150,
    p95LatencyMs: 1852,
    p99LatencyMs: 1992,
  });
});

test('a producer run without a summary line is an error, not zeros', () => {
  assert.throws(() => parseProducerSummary('61818 records sent, 12363.6 records/sec (12.07 MB/sec)'), {
    code: 'PF_KAFKA',
  });
});

test('the consumer row is read by column name', () => {
  assert.deepEqual(parseConsumerSummary(CONSUMER_OUTPUT, 200000), {
    recordsPerSec: 88968,
    mbPerSec: 86.88,
    fetchRecordsPerSec: 122624.2,
    fetchMbPerSec: 119.75,
    rebalanceMs: 617,
  });
});

test('a consumer that read fewer records than produced fails the measurement', () => {
  assert.throws(() => parseConsumerSummary(CONSUMER_OUTPUT, 250000), /read 200000 of 250000 records/);
});
