import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadLetterRecord } from '@patternflow/fixtures';
import { topicNames } from '@patternflow/records';
import { toDlqEntry } from './entries.ts';
import { parseMark, planRedrive, type RedriveMark, redriveExitCode } from './redrive.ts';

const topics = topicNames('ns');

/** A payments record the ingestor dead-lettered, read back from the DLQ at 0:`offset`. */
const deadLetter = (options: {
  partition?: number;
  offset?: string;
  sourceTopic?: string;
  headers?: Record<string, string>;
}) =>
  deadLetterRecord({
    dlqTopic: topics.dlq,
    partition: options.partition ?? 0,
    offset: options.offset ?? '0',
    record: {
      topic: options.sourceTopic ?? topics.ingest('payments'),
      headers: { traceparent: '00-abc-def-01', ...options.headers },
    },
  });
const NOW = Date.parse('2026-11-26T12:00:00Z');
const options = (overrides: Partial<Parameters<typeof planRedrive>[1]> = {}) => ({
  dlqTopic: topics.dlq,
  marksTopic: topics.dlqRedrives,
  marks: new Map<string, RedriveMark>(),
  maxRedrives: 3,
  existingTopics: new Set([topics.ingest('payments')]),
  now: NOW,
  by: 'alice',
  ...overrides,
});
const headerText = (value: unknown) => String(value);

test('a redrive sends the original key, value and headers back, counted, and marks the entry', () => {
  const entry = toDlqEntry(deadLetter({ partition: 1, offset: '17' }), topics);
  const plan = planRedrive([entry], options());
  assert.equal(plan.redrive.length, 1);
  const { message, mark } = plan.redrive[0]!;
  assert.equal(message.topic, 'ns.patterns.ingest.payments');
  assert.deepEqual(message.key, Buffer.from('k'));
  assert.deepEqual(message.value, Buffer.from('{"broken":'));
  assert.deepEqual(Object.keys(message.headers).sort(), [
    'pf-redrive-count',
    'pf-redriven-at',
    'pf-redriven-from',
    'traceparent',
  ]);
  assert.equal(headerText(message.headers['pf-redrive-count']), '1');
  assert.equal(headerText(message.headers['pf-redriven-from']), 'ns.patterns.dlq/1:17');
  assert.equal(headerText(message.headers['pf-redriven-at']), '2026-11-26T12:00:00.000Z');
  assert.equal(mark.topic, 'ns.patterns.dlq-redrives');
  assert.equal(mark.key, '1:17');
  assert.deepEqual(parseMark(mark.value), {
    entry: 'ns.patterns.dlq/1:17',
    to: 'ns.patterns.ingest.payments',
    redriveCount: 1,
    redrivenAt: '2026-11-26T12:00:00.000Z',
    by: 'alice',
  });
});

test('a record that failed again after a redrive is redriven with the count incremented, up to the bound', () => {
  const second = toDlqEntry(deadLetter({ offset: '5', headers: { 'pf-redrive-count': '2' } }), topics);
  const third = toDlqEntry(deadLetter({ offset: '6', headers: { 'pf-redrive-count': '3' } }), topics);
  const plan = planRedrive([second, third], options());
  assert.equal(headerText(plan.redrive[0]?.message.headers['pf-redrive-count']), '3');
  assert.equal(plan.refused.length, 1);
  assert.equal(plan.refused[0]?.entry.id, '0:6');
  assert.match(plan.refused[0]!.why, /redriven 3 time\(s\) already, the limit is 3/);
});

test('entries redriven before, without an origin, or whose topic is gone are not sent', () => {
  const marked = toDlqEntry(deadLetter({ offset: '1' }), topics);
  const orphan = toDlqEntry(deadLetter({ offset: '2', sourceTopic: '' }), topics);
  const gone = toDlqEntry(deadLetter({ offset: '3', sourceTopic: topics.ingest('retired') }), topics);
  const mark: RedriveMark = { entry: 'x', to: 'y', redriveCount: 1, redrivenAt: 't', by: 'bob' };
  const plan = planRedrive([marked, orphan, gone], options({ marks: new Map([['0:1', mark]]) }));
  assert.equal(plan.redrive.length, 0);
  assert.deepEqual(plan.alreadyRedriven, [{ entry: marked, mark }]);
  assert.match(plan.refused[0]!.why, /no pf-dlq-source-topic/);
  assert.match(plan.refused[1]!.why, /ns\.patterns\.ingest\.retired does not exist/);
});

test('marks that are not marks read as undefined', () => {
  assert.equal(parseMark(null), undefined);
  assert.equal(parseMark(Buffer.from('nope')), undefined);
  assert.equal(parseMark(Buffer.from('{"entry":1}')), undefined);
});

test('exit codes: 4 when an entry is refused, 1 when nothing is selected or an entry is missing, else 0', () => {
  const sendable = toDlqEntry(deadLetter({ offset: '1' }), topics);
  const bounded = toDlqEntry(deadLetter({ offset: '2', headers: { 'pf-redrive-count': '3' } }), topics);
  assert.equal(redriveExitCode(planRedrive([sendable], options()), []), 0);
  assert.equal(redriveExitCode(planRedrive([sendable, bounded], options()), []), 4);
  assert.equal(redriveExitCode(planRedrive([], options()), []), 1);
  assert.equal(redriveExitCode(planRedrive([sendable], options()), ['9:9']), 1);
  const mark: RedriveMark = { entry: 'x', to: 'y', redriveCount: 1, redrivenAt: 't', by: 'bob' };
  assert.equal(redriveExitCode(planRedrive([sendable], options({ marks: new Map([['0:1', mark]]) })), []), 0);
});
