import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicNames } from '@patternflow/records';
import {
  type AuditEntry,
  applyModelControlRecord,
  decodeAuditEntry,
  decodeModelControlRecord,
  deploymentChange,
  emptyModelControlState,
  modelAckMessage,
  modelAckRemoval,
  rollbackTarget,
  sameDeployment,
} from './index.ts';

const topics = topicNames('t');
const v1 = { name: 'payments-fraud-rf', version: '1.0.0', sha256: 'a'.repeat(64) };
const v2 = { name: 'payments-fraud-rf', version: '1.1.0', sha256: 'b'.repeat(64) };
const asInbound = (m: { key: string; value: Buffer | string | null }) => ({
  key: Buffer.from(m.key),
  value: m.value === null ? null : Buffer.from(m.value),
});

test('a deployment change is the deployment record and its audit entry, on their topics', () => {
  const change = deploymentChange({
    topics,
    source: 'payments',
    serving: v2,
    candidate: null,
    previous: {
      kind: 'deployment',
      id: 'x',
      source: 'payments',
      serving: v1,
      candidate: null,
      at: '',
      who: '',
      reason: '',
    },
    action: 'model.promote',
    who: 'alice@host',
    reason: 'better recall',
    now: new Date('2026-11-27T10:00:00Z'),
  });
  const [control, audit] = change.messages;
  assert.equal(control?.topic, 't.patterns.control.models');
  assert.equal(control?.key, 'deployment/payments');
  assert.deepEqual(decodeModelControlRecord(asInbound(control!)), {
    type: 'deployment',
    deployment: change.deployment,
  });
  assert.equal(audit?.topic, 't.patterns.audit');
  assert.deepEqual(decodeAuditEntry(Buffer.from(audit!.value as string)), {
    at: '2026-11-27T10:00:00.000Z',
    who: 'alice@host',
    action: 'model.promote',
    subject: 'model:payments',
    from: 'payments-fraud-rf@1.0.0',
    to: 'payments-fraud-rf@1.1.0',
    reason: 'better recall',
    sha256: v2.sha256,
  });
});

test('a candidate change audits the candidate, with its mode and share', () => {
  const change = deploymentChange({
    topics,
    source: 'payments',
    serving: v1,
    candidate: { ...v2, mode: 'canary', share: 0.1 },
    previous: undefined,
    action: 'model.canary',
    who: 'bob',
    reason: 'try it',
  });
  assert.equal(change.audit.from, null);
  assert.equal(change.audit.to, 'payments-fraud-rf@1.1.0 (canary 0.1)');
  assert.ok(
    !sameDeployment(change.deployment, { serving: v1, candidate: { ...v2, mode: 'canary', share: 0.2 } }),
  );
  assert.ok(
    sameDeployment(change.deployment, { serving: v1, candidate: { ...v2, mode: 'canary', share: 0.1 } }),
  );
});

test('records that are not what their key says are invalid, never thrown', () => {
  const invalid = (key: string, value: unknown) =>
    decodeModelControlRecord({ key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) });
  const good = {
    kind: 'deployment',
    id: 'i',
    source: 'payments',
    serving: v1,
    candidate: null,
    at: 'a',
    who: 'w',
    reason: 'r',
  };
  assert.equal(invalid('deployment/payments', good).type, 'deployment');
  assert.match((invalid('deployment/auth', good) as { problem: string }).problem, /under the key of "auth"/);
  assert.match(
    (invalid('deployment/payments', { ...good, serving: { ...v1, sha256: 'x' } }) as { problem: string })
      .problem,
    /serving.sha256 is not a sha256/,
  );
  assert.match(
    (
      invalid('deployment/payments', { ...good, candidate: { ...v2, mode: 'canary', share: 1.5 } }) as {
        problem: string;
      }
    ).problem,
    /share 1.5 is not a number in \(0, 1\]/,
  );
  assert.match(
    (invalid('deployment/payments', { ...good, candidate: { ...v2, mode: 'blue' } }) as { problem: string })
      .problem,
    /not shadow or canary/,
  );
  assert.equal(invalid('ack/r1', { kind: 'model-ack' }).type, 'invalid');
  assert.equal(invalid('policy', {}).type, 'invalid');
});

test('acknowledgements and their removal fold into the state', () => {
  const state = emptyModelControlState();
  const ack = { kind: 'model-ack', replica: 'r1', at: 'now', sources: {} } as const;
  applyModelControlRecord(state, decodeModelControlRecord(asInbound(modelAckMessage(topics, ack))));
  assert.equal(state.acks.get('r1')?.replica, 'r1');
  applyModelControlRecord(state, decodeModelControlRecord(asInbound(modelAckRemoval(topics, 'r1'))));
  assert.equal(state.acks.size, 0);
});

test('rollback returns to the serving version under the top of the stack the audit trail builds', () => {
  const entry = (action: string, to: string, subject = 'model:payments'): AuditEntry => ({
    at: '',
    who: '',
    action,
    subject,
    from: null,
    to,
    reason: '',
    sha256: '',
  });
  const trail = [entry('model.seed', 'm@1'), entry('model.seed', 'm@1'), entry('model.promote', 'm@2')];
  assert.equal(rollbackTarget(trail, 'payments'), 'm@1');
  trail.push(
    entry('model.shadow', 'm@3 (shadow)'),
    entry('model.promote', 'm@3'),
    entry('model.promote', 'x@1', 'model:auth'),
  );
  assert.equal(rollbackTarget(trail, 'payments'), 'm@2');
  trail.push(entry('model.rollback', 'm@2'));
  assert.equal(rollbackTarget(trail, 'payments'), 'm@1', 'a second rollback goes one further back');
  trail.push(entry('model.rollback', 'm@1'));
  assert.equal(rollbackTarget(trail, 'payments'), undefined, 'nothing left to return to');
  assert.equal(rollbackTarget(trail, 'netflow'), undefined);
});
