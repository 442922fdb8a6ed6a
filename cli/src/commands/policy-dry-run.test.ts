import assert from 'node:assert/strict';
import { test } from 'node:test';
import { taggedPattern } from '@patternflow/fixtures';
import { parsePolicy } from '@patternflow/policy';
import { compareRouting } from './policy-dry-run.ts';

const inForce = parsePolicy(
  `version: "a"
lanes: [critical, standard, bulk]
rules:
  - name: fraud
    lane: critical
    when: { label: fraud }
  - name: free
    lane: bulk
    when: { tier: free }
  - name: default
    lane: standard
`,
  'in force',
);
const candidate = parsePolicy(
  `version: "b"
lanes: [critical, standard, bulk]
rules:
  - name: confident-fraud
    lane: critical
    when: { label: fraud, score: { gte: 0.8 } }
  - name: free-or-standard
    lane: bulk
    when: { tier: [free, standard] }
  - name: default
    lane: standard
`,
  'candidate',
);

test('lane changes, the from→to matrix, hits per rule of both policies, and examples per change', () => {
  const records = [
    taggedPattern({ id: 'f1', tier: 'business', inference: { label: 'fraud', score: 0.9 } }), // critical → critical
    taggedPattern({ id: 'f2', tier: 'business', inference: { label: 'fraud', score: 0.5 } }), // critical → standard
    taggedPattern({ id: 's1', tier: 'standard' }), // standard → bulk
    taggedPattern({ id: 's2', tier: 'standard' }), // standard → bulk
    taggedPattern({ id: 'b1', tier: 'free' }), // bulk → bulk, by another rule
    taggedPattern({ id: 'e1', tier: 'enterprise' }), // standard → standard
  ];
  const report = compareRouting(inForce, candidate, records, 1);
  assert.equal(report.records, 6);
  assert.equal(report.changedLane, 3);
  assert.equal(report.changedRuleOnly, 2, 'f1 (fraud → confident-fraud) and b1 (free → free-or-standard)');
  assert.deepEqual(report.matrix, [
    { from: 'standard', to: 'bulk', count: 2 },
    { from: 'bulk', to: 'bulk', count: 1 },
    { from: 'critical', to: 'critical', count: 1 },
    { from: 'critical', to: 'standard', count: 1 },
    { from: 'standard', to: 'standard', count: 1 },
  ]);
  assert.deepEqual(report.inForceRules, [
    { rule: 'fraud', lane: 'critical', hits: 2 },
    { rule: 'free', lane: 'bulk', hits: 1 },
    { rule: 'default', lane: 'standard', hits: 3 },
  ]);
  assert.deepEqual(
    report.candidateRules.map((r) => r.hits),
    [1, 3, 2],
  );
  // One example per change (examplesPerChange = 1), in the order met.
  assert.deepEqual(
    report.examples.map((e) => [e.id, e.from.rule, e.to.rule]),
    [
      ['f2', 'fraud', 'default'],
      ['s1', 'default', 'free-or-standard'],
    ],
  );
  assert.equal(report.regionForbidden, 0);
});

test('no records: an empty report, every rule listed with 0 hits', () => {
  const report = compareRouting(inForce, candidate, []);
  assert.equal(report.changedLane, 0);
  assert.deepEqual(report.matrix, []);
  assert.deepEqual(
    report.candidateRules.map((r) => r.hits),
    [0, 0, 0],
  );
});
