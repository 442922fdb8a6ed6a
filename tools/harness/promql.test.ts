import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricNamesOf } from './promql.ts';

test('a bare selector, with and without label matchers', () => {
  assert.deepEqual(metricNamesOf('up'), ['up']);
  assert.deepEqual(metricNamesOf('up{job="patternflow"} == 0'), ['up']);
  assert.deepEqual(metricNamesOf('process_resident_memory_bytes{job="patternflow"} > 1.5e9'), [
    'process_resident_memory_bytes',
  ]);
});

test('functions, aggregations and their grouping labels are not metrics', () => {
  assert.deepEqual(
    metricNamesOf(
      'histogram_quantile(0.95, sum by (model, le) (rate(pf_inference_seconds_bucket[5m]))) > 0.5',
    ),
    ['pf_inference_seconds_bucket'],
  );
  assert.deepEqual(metricNamesOf('sum(rate(pf_records_in_total[1m])) by (stage)'), ['pf_records_in_total']);
  assert.deepEqual(metricNamesOf('SUM BY (stage) (pf_consumer_lag)'), ['pf_consumer_lag']);
  assert.deepEqual(metricNamesOf('topk(3, count_values("value", pf_batch_size_count))'), [
    'pf_batch_size_count',
  ]);
  assert.deepEqual(metricNamesOf('quantile without (instance) (0.9, nodejs_eventloop_lag_p99_seconds)'), [
    'nodejs_eventloop_lag_p99_seconds',
  ]);
});

test('binary operators, vector matching and keywords', () => {
  const expression = `
    sum by (stage) (pf_consumer_lag) > 0
    and on (stage)
    (
      sum by (stage) (increase(pf_records_in_total[10m])) == 0
      or
      (sum by (stage) (pf_consumer_lag) unless on (stage) sum by (stage) (pf_records_in_total))
    )`;
  assert.deepEqual(metricNamesOf(expression), ['pf_consumer_lag', 'pf_records_in_total']);
  assert.deepEqual(
    metricNamesOf('a_total / ignoring(reason) group_left(model) b_info * on(x) group_right c AND d OR e'),
    ['a_total', 'b_info', 'c', 'd', 'e'],
  );
  assert.deepEqual(metricNamesOf('up > bool 0 unless down offset 5m'), ['down', 'up']);
  assert.deepEqual(metricNamesOf('x atan2 y'), ['x', 'y']);
  assert.deepEqual(metricNamesOf('up == Inf or up != NaN'), ['up']);
});

test('numbers, durations, ranges and subqueries name nothing', () => {
  assert.deepEqual(
    metricNamesOf('clamp_min(sum(rate(pf_records_in_total[10m])), 1e-9) > 0x10 and 1h30m > 0'),
    ['pf_records_in_total'],
  );
  assert.deepEqual(metricNamesOf('max_over_time(rate(pf_retries_total[1m])[15m:30s] @ 1609746000)'), [
    'pf_retries_total',
  ]);
  assert.deepEqual(metricNamesOf('delta(pf_consumer_lag[15m] offset -1m)'), ['pf_consumer_lag']);
});

test('strings, label values with braces and comments name nothing', () => {
  assert.deepEqual(
    metricNamesOf(
      'label_replace(pf_dlq_records_total{reason=~"PF_{x}(.*)", stage!="a}b"}, "code", "$1", "reason", "PF_(.*)") # pf_old_metric',
    ),
    ['pf_dlq_records_total'],
  );
  assert.deepEqual(metricNamesOf("count(`raw`) + count('also raw')"), []);
  assert.deepEqual(metricNamesOf('absent(x{a="escaped \\" quote, not_a_metric"})'), ['x']);
});

test('{__name__="…"} selectors name their metric', () => {
  assert.deepEqual(metricNamesOf('{__name__="pf_sink_rows_total", lane="bulk"}'), ['pf_sink_rows_total']);
  assert.deepEqual(metricNamesOf("rate({lane='x',__name__='a_total'}[1m])"), ['a_total']);
});

test('dashboard variables outside strings are skipped, inside ranges and matchers too', () => {
  assert.deepEqual(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ${factor} is a Grafana variable
    metricNamesOf('sum(rate(pf_records_out_total{stage=~"$stage"}[$__rate_interval])) * $scale / ${factor}'),
    ['pf_records_out_total'],
  );
});

test('broken expressions are reported, not half-read', () => {
  assert.throws(() => metricNamesOf('sum(rate(x{a="b}[5m]))'), /unterminated string/);
  assert.throws(() => metricNamesOf('rate(x[5m)'), /unbalanced \[/);
});
