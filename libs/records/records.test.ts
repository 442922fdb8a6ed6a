import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSchema, topicNames, valueSubject } from './index.ts';

test('without a namespace, topic names are the contract names', () => {
  const topics = topicNames();
  assert.equal(topics.ingest('payments'), 'patterns.ingest.payments');
  assert.equal(topics.normalized, 'patterns.normalized');
  assert.equal(topics.tagged, 'patterns.tagged');
  assert.equal(topics.normalizedPriority, 'patterns.normalized.priority');
  assert.equal(topics.taggedPriority, 'patterns.tagged.priority');
  assert.equal(topics.routed('critical'), 'patterns.routed.critical');
  assert.equal(topics.dlq, 'patterns.dlq');
  assert.equal(topics.dlqRedrives, 'patterns.dlq-redrives');
  assert.equal(topics.controlPolicy, 'patterns.control.policy');
  assert.equal(topics.controlModels, 'patterns.control.models');
  assert.equal(topics.audit, 'patterns.audit');
  assert.equal(valueSubject(topics.normalized), 'patterns.normalized-value');
});

test('a namespace prefixes every topic and sourceOf reads the source back', () => {
  const topics = topicNames('e2e-1');
  assert.equal(topics.ingest('auth'), 'e2e-1.patterns.ingest.auth');
  assert.equal(topics.controlPolicy, 'e2e-1.patterns.control.policy');
  assert.equal(topics.controlModels, 'e2e-1.patterns.control.models');
  assert.equal(topics.normalizedPriority, 'e2e-1.patterns.normalized.priority');
  assert.equal(topics.taggedPriority, 'e2e-1.patterns.tagged.priority');
  assert.equal(topics.sourceOf('e2e-1.patterns.ingest.auth'), 'auth');
  assert.equal(topics.sourceOf('patterns.ingest.auth'), undefined);
  assert.equal(topics.sourceOf('e2e-1.patterns.ingest.'), undefined);
});

test('the stage schemas load and extend one another', () => {
  const names = (schema: Record<string, unknown>) => (schema.fields as { name: string }[]).map((f) => f.name);
  const normalized = names(loadSchema('normalized'));
  const tagged = names(loadSchema('tagged'));
  const routed = names(loadSchema('routed'));
  assert.deepEqual(tagged, [...normalized, 'inference']);
  assert.deepEqual(routed, [...normalized, 'inference', 'route']);
});
