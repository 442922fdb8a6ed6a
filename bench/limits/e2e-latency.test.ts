import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndToEndLatency } from './e2e-latency.ts';

// Output of Kafka 4.1.1's EndToEndLatency on the local stack (3000 messages of 955 B,
// acks=all, on a busy machine): a progress line every 1000 messages, then the summary.
const OUTPUT = `0\t221.863892
1000\t7.331202
2000\t0.801303
Avg latency: 4.6444 ms
Percentiles: 50th = 1, 99th = 54, 99.9th = 159
`;

test('the summary is read from the average and percentile lines, not the progress lines', () => {
  assert.deepEqual(parseEndToEndLatency(OUTPUT), { avgMs: 4.6444, p50Ms: 1, p99Ms: 54, p999Ms: 159 });
});

test('a run that printed no summary is an error, not zeros', () => {
  assert.throws(() => parseEndToEndLatency('0\t221.863892\n1000\t7.331202\n'), { code: 'PF_KAFKA' });
});

test('a summary without its percentile line is an error', () => {
  assert.throws(() => parseEndToEndLatency('Avg latency: 4.6444 ms\n'), /no summary/);
});
