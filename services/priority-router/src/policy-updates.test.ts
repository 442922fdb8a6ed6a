import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type PolicyRecord, sha256Of } from '@patternflow/control';
import { parsePolicy } from '@patternflow/policy';
import { createPolicyUpdates } from './policy-updates.ts';

const text = (version: string, extra = '') =>
  `version: "${version}"\nlanes: [standard, bulk]\nrules:\n${extra}  - name: default\n    lane: standard\n`;
const record = (yaml: string, version: string): PolicyRecord => ({
  kind: 'policy',
  version,
  sha256: sha256Of(yaml),
  yaml,
  applied_at: '2026-11-27T00:00:00.000Z',
  applied_by: 'test',
  reason: 'test',
  previous_version: null,
});
const v1 = text('v1');
const v2 = text('v2', '  - name: free\n    lane: bulk\n    when: { tier: free }\n');
const start = () => createPolicyUpdates({ policy: parsePolicy(v1, 'v1'), sha256: sha256Of(v1) }, 4n);

test('a newer valid record with the same lanes replaces the policy in force', () => {
  const updates = start();
  const outcome = updates.offer(5n, record(v2, 'v2'));
  assert.equal(outcome.kind, 'applied');
  assert.equal(updates.current().policy.version, 'v2');
});

test('reading the topic again from its beginning never flips back to an older policy', () => {
  const updates = start();
  updates.offer(7n, record(v2, 'v2'));
  // A restarted consumer without committed offsets replays offsets 0.. again.
  for (const [offset, r] of [
    [4n, record(v1, 'v1')],
    [6n, record(text('v0'), 'v0')],
    [7n, record(v2, 'v2')],
  ] as const) {
    assert.deepEqual(updates.offer(offset, r), { kind: 'ignored' });
  }
  assert.equal(updates.current().policy.version, 'v2');
});

test('the content in force (our own seed coming back) is ignored', () => {
  assert.deepEqual(start().offer(5n, record(v1, 'v1')), { kind: 'ignored' });
});

test('refusals keep the policy in force and say why', () => {
  const cases: [string, string, RegExp][] = [
    [
      text('v1', '  - name: x\n    lane: bulk\n    when: { tier: x }\n'),
      'v1',
      /version v1 is the version in force/,
    ],
    [
      'version: "v3"\nlanes: [standard, bulk, archive]\nrules:\n  - name: default\n    lane: standard\n',
      'v3',
      /lane layout changed \(.*added archive\)/,
    ],
    ['version: "v4"\nlanes: [standard]\nrules: []\n', 'v4', /rules: must be a non-empty list/],
    [text('v5'), 'v6', /the policy record says version v6, its text says v5/],
  ];
  const updates = start();
  cases.forEach(([yaml, version, why], i) => {
    const outcome = updates.offer(BigInt(10 + i), record(yaml, version));
    assert.equal(outcome.kind, 'rejected', version);
    if (outcome.kind === 'rejected') {
      assert.match(outcome.detail, why);
      assert.equal(outcome.current.policy.version, 'v1');
    }
  });
  assert.equal(updates.current().policy.version, 'v1');
  // A refused record is not offered again on a replay, and a valid one still applies after.
  assert.deepEqual(updates.offer(13n, record(text('v5'), 'v6')), { kind: 'ignored' });
  assert.equal(updates.offer(14n, record(v2, 'v2')).kind, 'applied');
});
