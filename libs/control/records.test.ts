import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from '@patternflow/policy';
import { topicNames } from '@patternflow/records';
import {
  ackMessage,
  ackRemoval,
  applyControlRecord,
  decodeAuditEntry,
  decodeControlRecord,
  decodeModelControlRecord,
  emptyControlState,
  policyChange,
  sha256Of,
} from './index.ts';

const topics = topicNames('t');
const yaml = 'version: "v1"\nlanes: [standard]\nrules:\n  - name: default\n    lane: standard\n';
const change = policyChange({
  topics,
  yaml,
  policy: parsePolicy(yaml, 'inline'),
  who: 'alice@host',
  reason: 'because',
  previous: undefined,
  action: 'policy.apply',
  now: new Date('2026-11-27T10:00:00Z'),
});
const asInbound = (m: { key: string; value: Buffer | string | null }) => ({
  key: Buffer.from(m.key),
  value: m.value === null ? null : Buffer.from(m.value),
});

test('a policy change is the policy record and its audit entry, on their topics, with the same sha256', () => {
  const [control, audit] = change.messages;
  assert.equal(control?.topic, 't.patterns.control.policy');
  assert.equal(control?.key, 'policy');
  assert.equal(audit?.topic, 't.patterns.audit');
  assert.deepEqual(decodeControlRecord(asInbound(control!)), { type: 'policy', record: change.record });
  assert.deepEqual(decodeAuditEntry(Buffer.from(audit!.value as string)), {
    at: '2026-11-27T10:00:00.000Z',
    who: 'alice@host',
    action: 'policy.apply',
    subject: 'routing-policy',
    from: null,
    to: 'v1',
    reason: 'because',
    sha256: sha256Of(yaml),
  });
});

test('acknowledgements and their removal fold into the state; later records win', () => {
  const state = emptyControlState();
  applyControlRecord(state, decodeControlRecord(asInbound(change.messages[0]!)));
  const ack = {
    kind: 'ack',
    replica: 'r1',
    status: 'in-force',
    version: 'v1',
    sha256: 'x',
    at: 'now',
  } as const;
  applyControlRecord(state, decodeControlRecord(asInbound(ackMessage(topics, ack))));
  assert.equal(state.policy?.version, 'v1');
  assert.equal(state.acks.get('r1')?.status, 'in-force');
  applyControlRecord(state, decodeControlRecord(asInbound(ackRemoval(topics, 'r1'))));
  assert.equal(state.acks.size, 0);
});

test('records that are not what their key says are invalid, never thrown', () => {
  const invalid = (key: string, value: string) =>
    decodeControlRecord({ key: Buffer.from(key), value: Buffer.from(value) });
  assert.deepEqual(invalid('policy', '{'), { type: 'invalid', key: 'policy', problem: 'not JSON' });
  assert.match(
    (invalid('policy', '{"kind":"policy"}') as { problem: string }).problem,
    /missing version, sha256, yaml/,
  );
  const tampered = { ...change.record, yaml: `${yaml}# edited\n` };
  assert.deepEqual(invalid('policy', JSON.stringify(tampered)), {
    type: 'invalid',
    key: 'policy',
    problem: 'sha256 does not match the policy text',
  });
  assert.equal(invalid('ack/r1', '{"kind":"ack","replica":"r1"}').type, 'invalid');
  assert.equal(invalid('other', '{}').type, 'invalid');
  assert.equal(decodeAuditEntry(Buffer.from('{"at":1}')), undefined);
});

test('both control topics read a deleted key as a tombstone and a value that is no JSON object as invalid', () => {
  for (const decode of [decodeControlRecord, decodeModelControlRecord]) {
    const raw = (value: string | null) =>
      decode({ key: Buffer.from('ack/r1'), value: value === null ? null : Buffer.from(value) });
    assert.deepEqual(raw(null), { type: 'tombstone', key: 'ack/r1' });
    assert.deepEqual(raw(''), { type: 'tombstone', key: 'ack/r1' });
    assert.deepEqual(raw('{'), { type: 'invalid', key: 'ack/r1', problem: 'not JSON' });
    assert.deepEqual(raw('3'), { type: 'invalid', key: 'ack/r1', problem: 'not a JSON object' });
    assert.deepEqual(raw('null'), { type: 'invalid', key: 'ack/r1', problem: 'not a JSON object' });
  }
});
