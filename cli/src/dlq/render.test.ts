import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deadLetterRecord } from '@patternflow/fixtures';
import { topicNames } from '@patternflow/records';
import { groupEntries, toDlqEntry } from './entries.ts';
import { planRedrive } from './redrive.ts';
import { renderEntry, renderGroups, renderRedrive } from './render.ts';

const topics = topicNames('ns');
const entry = (offset: string, headers: Record<string, string> = {}) =>
  toDlqEntry(
    deadLetterRecord({
      dlqTopic: topics.dlq,
      offset,
      record: {
        topic: topics.ingest('payments'),
        key: Buffer.from('k\u001b[2J'),
        value: 'bad \u009b',
        headers,
      },
    }),
    topics,
  );

test('dlq list: a table of groups and what to do next; an empty selection says so', () => {
  const text = renderGroups(
    topics.dlq,
    2,
    groupEntries([entry('0'), entry('1', { 'pf-redrive-count': '1' })], new Set(['0:0'])),
  );
  assert.match(text, /^ns\.patterns\.dlq: 2 dead letter\(s\) in 1 group\(s\)/);
  assert.match(text, /PF_VALUE_NOT_DECODABLE +ingestor +payments +2 .* 0:1 +1 +1 \(up to 1x\)/);
  assert.match(text, /patternflow dlq show <example>/);
  assert.equal(renderGroups(topics.dlq, 0, []), 'ns.patterns.dlq: no dead letters match');
});

test('dlq show: reason, origin, original headers without pf-dlq-*, the value and its bytes, all escaped', () => {
  const text = renderEntry(
    topics.dlq,
    entry('7', { traceparent: 't' }),
    { format: 'text', value: 'bad \u009b', bytes: 6 },
    undefined,
  );
  assert.match(text, /^ns\.patterns\.dlq 0:7 {2}written /);
  assert.match(text, /reason {5}PF_VALUE_NOT_DECODABLE/);
  assert.match(text, /source {5}payments \(ns\.patterns\.ingest\.payments partition 0 offset 0\)/);
  assert.match(text, /key {8}k\\u001b\[2J/);
  assert.match(text, /original headers\n {2}traceparent: t\nvalue: text, 6 bytes\n {2}"bad \\u009b"/);
  assert.match(text, /original bytes\n {2}00000000 {2}62 61 64 20 c2 9b/);
  assert.ok(!text.includes('pf-dlq-'), 'the DLQ headers are shown as fields, not as original headers');
  assert.ok(!text.includes('\u001b') && !text.includes('\u009b'));
});

test('dlq redrive: one line per entry and a summary', () => {
  const plan = planRedrive([entry('1'), entry('2', { 'pf-redrive-count': '3' })], {
    dlqTopic: topics.dlq,
    marksTopic: topics.dlqRedrives,
    marks: new Map(),
    maxRedrives: 3,
    existingTopics: new Set([topics.ingest('payments')]),
    now: 0,
    by: 'alice',
  });
  assert.equal(
    renderRedrive(plan, ['5:5'], true),
    [
      'would send 0:1 (PF_VALUE_NOT_DECODABLE) to ns.patterns.ingest.payments, redrive 1',
      'refused 0:2: redriven 3 time(s) already, the limit is 3 (--max-redrives): fix the cause first',
      'missing 5:5: no such entry in the DLQ',
      'dry run: 1 would send, 0 redriven before, 1 refused, 1 missing',
    ].join('\n'),
  );
});
