import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ErrorCode, ErrorCodes, PipelineError } from '@patternflow/errors';
import { deadLetterRecord } from '@patternflow/fixtures';
import { topicNames } from '@patternflow/records';
import { CliError } from '../exit.ts';
import type { RawRecord } from '../records/render.ts';
import {
  type DlqEntry,
  groupEntries,
  matchesDlqFilter,
  normalizeReason,
  originalHeaders,
  parseEntryId,
  toDlqEntry,
} from './entries.ts';

const topics = topicNames('ns');

/** A dead letter of the payments ingest topic, as the stage runner writes it, read back. */
function deadLetter(options: {
  partition?: number;
  offset?: string;
  timestamp?: number;
  reason?: ErrorCode;
  stage?: string;
  sourceTopic?: string;
  headers?: Record<string, string>;
}): RawRecord {
  return deadLetterRecord({
    dlqTopic: topics.dlq,
    stage: options.stage ?? 'ingestor',
    partition: options.partition ?? 0,
    offset: options.offset ?? '0',
    timestamp: options.timestamp ?? 1_700_000_000_000,
    error: new PipelineError(options.reason ?? ErrorCodes.VALUE_NOT_DECODABLE, 'value is not valid JSON'),
    record: {
      topic: options.sourceTopic ?? topics.ingest('payments'),
      partition: 2,
      offset: '41',
      headers: { traceparent: '00-abc-def-01', ...options.headers },
    },
  });
}

test('a DLQ record reads back as reason, stage, origin, source and redrive count', () => {
  const entry = toDlqEntry(
    deadLetter({
      partition: 1,
      offset: '17',
      headers: { 'pf-redrive-count': '2', 'pf-redriven-from': 'x/0:3' },
    }),
    topics,
  );
  assert.equal(entry.id, '1:17');
  assert.equal(entry.reason, 'PF_VALUE_NOT_DECODABLE');
  assert.equal(entry.stage, 'ingestor');
  assert.equal(entry.source, 'payments');
  assert.equal(entry.sourceTopic, 'ns.patterns.ingest.payments');
  assert.equal(entry.sourceOffset, '41');
  assert.equal(entry.redriveCount, 2);
  assert.equal(entry.redrivenFrom, 'x/0:3');
});

test('the source of a later stage comes from pf-source, or from the decoded value', () => {
  const tagged = deadLetter({
    stage: 'inference-tagger',
    sourceTopic: topics.normalized,
    headers: { 'pf-source': 'auth' },
  });
  assert.equal(toDlqEntry(tagged, topics).source, 'auth');
  const routed = deadLetter({ stage: 'sink', sourceTopic: topics.routed('bulk') });
  assert.equal(toDlqEntry(routed, topics, 'netflow').source, 'netflow');
  assert.equal(toDlqEntry(routed, topics).source, '-');
});

test('a garbage redrive count reads as 0; the original headers are all but pf-dlq-*', () => {
  const entry = toDlqEntry(deadLetter({ headers: { 'pf-redrive-count': 'lots' } }), topics);
  assert.equal(entry.redriveCount, 0);
  assert.deepEqual(Object.keys(originalHeaders(entry.headers)), ['traceparent', 'pf-redrive-count']);
});

test('filters: reason in any spelling, stage, source, since', () => {
  const entry = toDlqEntry(deadLetter({ timestamp: 1000 }), topics);
  assert.equal(normalizeReason('value_not_decodable'), 'PF_VALUE_NOT_DECODABLE');
  assert.ok(
    matchesDlqFilter(entry, {
      reason: 'value_not_decodable',
      stage: 'ingestor',
      source: 'payments',
      since: 1000,
    }),
  );
  assert.ok(!matchesDlqFilter(entry, { reason: ErrorCodes.VALUE_EMPTY }));
  assert.ok(!matchesDlqFilter(entry, { stage: 'sink' }));
  assert.ok(!matchesDlqFilter(entry, { source: 'auth' }));
  assert.ok(!matchesDlqFilter(entry, { since: 1001 }));
});

test('groups by reason, stage and source, largest first, with first/last time, an example and redrives', () => {
  const entries: DlqEntry[] = [
    toDlqEntry(deadLetter({ offset: '0', timestamp: 3000 }), topics),
    toDlqEntry(deadLetter({ offset: '1', timestamp: 1000, headers: { 'pf-redrive-count': '2' } }), topics),
    toDlqEntry(
      deadLetter({
        offset: '2',
        timestamp: 2000,
        reason: ErrorCodes.UNKNOWN_SOURCE,
        sourceTopic: topics.ingest('x'),
      }),
      topics,
    ),
    toDlqEntry(deadLetter({ offset: '3', timestamp: 5000 }), topics),
  ];
  const groups = groupEntries(entries, new Set(['0:3', '9:9']));
  assert.deepEqual(groups, [
    {
      reason: 'PF_VALUE_NOT_DECODABLE',
      stage: 'ingestor',
      source: 'payments',
      count: 3,
      first: new Date(1000).toISOString(),
      last: new Date(5000).toISOString(),
      example: '0:3',
      redriven: 1,
      returned: 1,
      maxRedriveCount: 2,
    },
    {
      reason: 'PF_UNKNOWN_SOURCE',
      stage: 'ingestor',
      source: 'x',
      count: 1,
      first: new Date(2000).toISOString(),
      last: new Date(2000).toISOString(),
      example: '0:2',
      redriven: 0,
      returned: 0,
      maxRedriveCount: 0,
    },
  ]);
});

test('entry ids: partition:offset, or the DLQ topic/partition:offset of a redrive header', () => {
  assert.deepEqual(parseEntryId('2:17', topics.dlq), { partition: 2, offset: '17' });
  assert.deepEqual(parseEntryId('ns.patterns.dlq/0:3', topics.dlq), { partition: 0, offset: '3' });
  for (const bad of ['2', '2:x', 'other.topic/0:3', '-1:2', '']) {
    assert.throws(
      () => parseEntryId(bad, topics.dlq),
      (e: unknown) => e instanceof CliError && e.exitCode === 2,
      bad,
    );
  }
});
