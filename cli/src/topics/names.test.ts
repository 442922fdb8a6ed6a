import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicNames } from '@patternflow/records';
import { resolveTopic, stageInputTopics } from './names.ts';

test('shorthands resolve inside the namespace; full names stay as they are', () => {
  const topics = topicNames('ns');
  assert.equal(resolveTopic('normalized', topics), 'ns.patterns.normalized');
  assert.equal(resolveTopic('dlq', topics), 'ns.patterns.dlq');
  assert.equal(resolveTopic('dlq-redrives', topics), 'ns.patterns.dlq-redrives');
  assert.equal(resolveTopic('ingest.payments', topics), 'ns.patterns.ingest.payments');
  assert.equal(resolveTopic('routed.critical', topics), 'ns.patterns.routed.critical');
  assert.equal(resolveTopic('other.topic', topics), 'other.topic');
  assert.equal(resolveTopic('constructor', topics), 'constructor');
  assert.equal(resolveTopic('tagged', topicNames()), 'patterns.tagged');
  assert.equal(resolveTopic('normalized.priority', topics), 'ns.patterns.normalized.priority');
  assert.equal(resolveTopic('tagged.priority', topicNames()), 'patterns.tagged.priority');
});

test('input topics per stage, from the topics that exist', () => {
  const topics = topicNames('ns');
  const existing = [
    'ns.patterns.ingest.payments',
    'ns.patterns.ingest.vendor-x',
    'ns.patterns.routed.bulk',
    'ns.patterns.routed.critical',
    'ns.patterns.normalized',
    'other.patterns.ingest.auth',
    'ns.patterns.routed.',
  ];
  assert.deepEqual(stageInputTopics('ingestor', topics, existing), [
    'ns.patterns.ingest.payments',
    'ns.patterns.ingest.vendor-x',
  ]);
  // The expedited lane is an input too: status shows its lag, replay rewinds it with the rest.
  assert.deepEqual(stageInputTopics('inference-tagger', topics, existing), [
    'ns.patterns.normalized.priority',
    'ns.patterns.normalized',
  ]);
  assert.deepEqual(stageInputTopics('priority-router', topics, existing), [
    'ns.patterns.tagged.priority',
    'ns.patterns.tagged',
  ]);
  assert.deepEqual(stageInputTopics('sink', topics, existing), [
    'ns.patterns.routed.bulk',
    'ns.patterns.routed.critical',
  ]);
});
