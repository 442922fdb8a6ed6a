import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics, sumBy, sumOf } from './prometheus.ts';

const SCRAPE = `# HELP pf_records_in_total Records consumed by the stage
# TYPE pf_records_in_total counter
pf_records_in_total{topic="ns.patterns.ingest.payments",stage="ingestor"} 120
pf_records_in_total{topic="ns.patterns.ingest.auth",stage="ingestor"} 30
pf_dlq_records_total{reason="PF_VALUE_NOT_DECODABLE",stage="ingestor"} 2
pf_dlq_records_total{reason="PF_UNKNOWN_SOURCE",stage="ingestor"} 1
pf_consumer_paused{stage="ingestor"} 0
odd_label{msg="a \\"quoted\\", with\\\\ and\\nline",stage="x"} 1.5e3
process_start_time_seconds 1764140000
pf_processing_seconds_bucket{le="+Inf",stage="ingestor"} 7
broken{label=unquoted} 1
broken_too{a="open
`;

test('samples with labels, escapes, exponents and +Inf; broken lines skipped', () => {
  const samples = parseMetrics(SCRAPE);
  assert.equal(samples.length, 8);
  assert.deepEqual(samples[0], {
    name: 'pf_records_in_total',
    labels: { topic: 'ns.patterns.ingest.payments', stage: 'ingestor' },
    value: 120,
  });
  const odd = samples.find((s) => s.name === 'odd_label')!;
  assert.equal(odd.labels.msg, 'a "quoted", with\\ and\nline');
  assert.equal(odd.value, 1500);
  assert.equal(samples.find((s) => s.name === 'process_start_time_seconds')?.value, 1_764_140_000);
  assert.equal(samples.find((s) => s.name === 'pf_processing_seconds_bucket')?.labels.le, '+Inf');
});

test('sums, filtered and per label', () => {
  const samples = parseMetrics(SCRAPE);
  assert.equal(sumOf(samples, 'pf_records_in_total'), 150);
  assert.equal(
    sumOf(samples, 'pf_records_in_total', (labels) => labels.topic?.endsWith('.auth') === true),
    30,
  );
  assert.deepEqual(sumBy(samples, 'pf_dlq_records_total', 'reason'), {
    PF_VALUE_NOT_DECODABLE: 2,
    PF_UNKNOWN_SOURCE: 1,
  });
});
