import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMetrics } from './prometheus.ts';
import { type Probe, renderStatus, type StatusReport, stageReport, statusExitCode } from './report.ts';

const DLQ = 'ns.patterns.dlq';
const scrape = (at: number, lines: string, health = { up: true, ready: true }): Probe => ({
  ...health,
  at,
  samples: parseMetrics(lines),
});
const down: Probe = {
  up: false,
  ready: false,
  at: 0,
  samples: null,
  error: 'connect ECONNREFUSED 127.0.0.1:9466',
};

const firstSink = scrape(
  1_000,
  `pf_records_in_total{topic="ns.patterns.routed.bulk",stage="sink"} 100
pf_records_out_total{topic="${DLQ}",stage="sink"} 1
pf_sink_rows_total{lane="bulk",result="inserted",stage="sink"} 90`,
);
const secondSink = scrape(
  3_000,
  `pf_records_in_total{topic="ns.patterns.routed.bulk",stage="sink"} 300
pf_records_out_total{topic="${DLQ}",stage="sink"} 40
pf_sink_rows_total{lane="bulk",result="inserted",stage="sink"} 240
pf_sink_rows_total{lane="bulk",result="duplicate",stage="sink"} 10
pf_dlq_records_total{reason="PF_SINK_REJECTED",stage="sink"} 40
pf_dlq_records_total{reason="PF_VALUE_EMPTY",stage="sink"} 0
pf_consumer_paused{stage="sink"} 1
pf_consumer_pause_reason{reason="PF_SINK_UNAVAILABLE",stage="sink"} 2
pf_consumer_pause_reason{reason="downstream-backlog",stage="sink"} 0
pf_unreadable_batch{topic="ns.patterns.routed.bulk",partition="2",from="10",to="12",stage="sink"} 1`,
  { up: true, ready: false },
);

test('rates over the two scrapes (out: records produced or rows written) leave the DLQ out; pause reasons, dead letters and lag per stage', () => {
  const report = stageReport({
    stage: 'sink',
    url: 'http://127.0.0.1:9467',
    group: 'ns.patternflow.sink',
    dlqTopic: DLQ,
    first: firstSink,
    second: secondSink,
    lag: [
      { topic: 'ns.patterns.routed.bulk', partition: 0, committed: '5', end: '10', lag: 5 },
      { topic: 'ns.patterns.routed.bulk', partition: 1, committed: null, end: '7', lag: 7 },
    ],
  });
  assert.equal(report.state, 'not-ready');
  assert.equal(report.inPerSecond, 100);
  assert.equal(report.outPerSecond, 80);
  assert.equal(report.lag, 12);
  assert.deepEqual(report.lagByTopic, { 'ns.patterns.routed.bulk': 12 });
  assert.equal(report.paused, true);
  assert.deepEqual(report.pauseReasons, [{ reason: 'PF_SINK_UNAVAILABLE', holders: 2 }]);
  assert.deepEqual(report.deadLetters, { PF_SINK_REJECTED: 40 });
  assert.deepEqual(report.unreadable, [
    { topic: 'ns.patterns.routed.bulk', partition: '2', from: '10', to: '12' },
  ]);
});

test('a restart between the scrapes gives no rate; a stage that does not answer is down, or held', () => {
  const restarted = stageReport({
    stage: 'sink',
    url: 'u',
    group: 'g',
    dlqTopic: DLQ,
    first: secondSink,
    second: firstSink,
    lag: null,
  });
  assert.equal(restarted.inPerSecond, null);
  assert.equal(restarted.lag, null);
  const gone = stageReport({
    stage: 'priority-router',
    url: 'u',
    group: 'g',
    dlqTopic: DLQ,
    first: down,
    second: down,
    lag: [],
  });
  assert.equal(gone.state, 'down');
  assert.equal(gone.paused, null);
  assert.equal(gone.error, down.error);
  const held = stageReport({
    stage: 'priority-router',
    url: 'u',
    group: 'g',
    dlqTopic: DLQ,
    first: down,
    second: down,
    lag: [],
    held: { holderPid: 42, reason: 'replay', since: 't' },
  });
  assert.equal(held.state, 'held');
});

function report(overrides: Partial<StatusReport> = {}): StatusReport {
  const ready = stageReport({
    stage: 'ingestor',
    url: 'http://127.0.0.1:9464',
    group: 'g',
    dlqTopic: DLQ,
    first: scrape(0, 'pf_records_in_total{topic="a"} 0'),
    second: scrape(1_000, 'pf_records_in_total{topic="a"} 5\npf_consumer_paused 0'),
    lag: [],
  });
  return {
    at: '2026-11-26T12:00:00.000Z',
    namespace: 'ns',
    brokers: ['127.0.0.1:19092'],
    intervalMs: 1000,
    kafka: { reachable: true },
    dlq: { topic: DLQ, records: 3 },
    stages: [ready],
    ...overrides,
  };
}

test('exit codes: 0 all ready, 1 a stage not ready, 3 Kafka unreachable', () => {
  assert.equal(statusExitCode(report()), 0);
  const sink = stageReport({
    stage: 'sink',
    url: 'u',
    group: 'g',
    dlqTopic: DLQ,
    first: down,
    second: down,
    lag: null,
  });
  assert.equal(statusExitCode(report({ stages: [...report().stages, sink] })), 1);
  assert.equal(statusExitCode(report({ kafka: { reachable: false, error: 'ECONNREFUSED' } })), 3);
});

test('the text is one screen: a heading, a row per stage, the DLQ, then what needs attention', () => {
  const sink = stageReport({
    stage: 'sink',
    url: 'http://127.0.0.1:9467',
    group: 'g',
    dlqTopic: DLQ,
    first: firstSink,
    second: secondSink,
    lag: [],
  });
  const router = stageReport({
    stage: 'priority-router',
    url: 'http://127.0.0.1:9466',
    group: 'g',
    dlqTopic: DLQ,
    first: down,
    second: down,
    lag: [],
  });
  const text = renderStatus(report({ stages: [...report().stages, router, sink] }));
  const lines = text.split('\n');
  assert.ok(lines.length <= 24, text);
  assert.match(lines[0]!, /^patternflow status .* namespace ns/);
  assert.match(text, /^ingestor +ready +5\.0 +0\.0 +0 +no +0$/m);
  assert.match(text, /^priority-router +DOWN +- +- +0 +- +-$/m);
  assert.match(
    text,
    /^sink +NOT READY +100\.0 +80\.0 +0 +yes: PF_SINK_UNAVAILABLE x2 +PF_SINK_REJECTED 40$/m,
  );
  assert.match(text, /DLQ ns\.patterns\.dlq: 3 record\(s\) retained/);
  assert.match(text, /priority-router: http:\/\/127\.0\.0\.1:9466 does not answer: connect ECONNREFUSED/);
  assert.match(
    text,
    /sink: stopped in front of an unreadable batch: ns\.patterns\.routed\.bulk partition 2, offsets 10 to 12/,
  );
});
