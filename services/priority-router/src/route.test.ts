import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from '@patternflow/policy';
import type { TaggedPattern } from '@patternflow/records';
import { createRouter } from './route.ts';

const policy = parsePolicy(
  `version: "r-42"
lanes: [critical, standard, bulk]
rules:
  - name: fraud
    lane: critical
    when: { label: fraud, score: { gte: 0.8 } }
  - name: free
    lane: bulk
    when: { tier: free }
  - name: default
    lane: standard
`,
  'inline',
);

const tagged = (label: string, tier: string): TaggedPattern => ({
  id: `id-${label}-${tier}`,
  source: 'payments',
  kind: 'card_payment',
  event_time: 1_000,
  ingest_time: 2_000,
  tenant: 'acme',
  tier,
  region: 'eu-west',
  attributes: { amount: 12.5 },
  payload: '{"amount":12.5}',
  payload_format: 'JSON',
  payload_schema_id: null,
  inference: {
    label,
    score: 0.9,
    scores: { legit: 0.1, fraud: 0.9 },
    model_name: 'm',
    model_version: '3',
    inferred_at: 3_000,
  },
});

test('createRouter attaches lane, rule, policy version and routing time', () => {
  const route = createRouter({ policy, now: () => 1_234_567 });
  const input = tagged('fraud', 'free');
  const out = route(input);
  assert.deepEqual(out.route, {
    lane: 'critical',
    rule: 'fraud',
    policy_version: 'r-42',
    routed_at: 1_234_567,
  });
  const { route: _route, ...rest } = out;
  assert.deepEqual(rest, input, 'every tagged field is carried over unchanged');
  assert.equal('route' in input, false, 'the input record is not mutated');
});

test('each record gets its own decision and clock reading', () => {
  let clock = 10;
  const route = createRouter({ policy, now: () => clock++ });
  const a = route(tagged('legit', 'free'));
  const b = route(tagged('legit', 'business'));
  assert.deepEqual([a.route.lane, a.route.rule, a.route.routed_at], ['bulk', 'free', 10]);
  assert.deepEqual([b.route.lane, b.route.rule, b.route.routed_at], ['standard', 'default', 11]);
});

test('now defaults to the wall clock', () => {
  const before = Date.now();
  const out = createRouter({ policy })(tagged('legit', 'free'));
  assert.ok(out.route.routed_at >= before && out.route.routed_at <= Date.now());
});
