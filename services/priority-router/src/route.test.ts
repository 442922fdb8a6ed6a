import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { taggedPattern } from '@patternflow/fixtures';
import { parsePolicy } from '@patternflow/policy';
import { createRouteDecider } from './route.ts';

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

const tagged = (label: string, tier: string) =>
  taggedPattern({ id: `id-${label}-${tier}`, tier, inference: { label, score: 0.9 } });

test('the decision names lane, rule, policy version and routing time', () => {
  const decide = createRouteDecider({ policy, now: () => 1_234_567 });
  const input = tagged('fraud', 'free');
  const before = structuredClone(input);
  assert.deepEqual(decide(input), {
    lane: 'critical',
    rule: 'fraud',
    policy_version: 'r-42',
    routed_at: 1_234_567,
  });
  assert.deepEqual(input, before, 'the input record is not mutated');
});

test('each record gets its own decision and clock reading', () => {
  let clock = 10;
  const decide = createRouteDecider({ policy, now: () => clock++ });
  const a = decide(tagged('legit', 'free'));
  const b = decide(tagged('legit', 'business'));
  assert.deepEqual([a.lane, a.rule, a.routed_at], ['bulk', 'free', 10]);
  assert.deepEqual([b.lane, b.rule, b.routed_at], ['standard', 'default', 11]);
});

test('now defaults to the wall clock', () => {
  const before = Date.now();
  const route = createRouteDecider({ policy })(tagged('legit', 'free'));
  assert.ok(route.routed_at >= before && route.routed_at <= Date.now());
});

test('regions: a permitted decision passes; a forbidden one throws PF_REGION_FORBIDDEN naming region, lane and rule', () => {
  const regional = parsePolicy(
    `version: "r-43"
lanes: [critical, standard, bulk]
regions:
  eu-west: { lanes: [critical, standard] }
rules:
  - name: free
    lane: bulk
    when: { tier: free, region: { not_in: [eu-west] } }
  - name: default
    lane: standard
`,
    'inline',
  );
  const decide = createRouteDecider({ policy: regional });
  assert.equal(decide(taggedPattern({ region: 'eu-west', tier: 'free' })).lane, 'standard');
  assert.equal(decide(taggedPattern({ region: 'us-east', tier: 'free' })).lane, 'bulk');
  const unsound = createRouteDecider({
    policy: { ...regional, route: () => ({ lane: 'bulk', rule: 'free' }) },
  });
  assert.throws(
    () => unsound(taggedPattern({ id: 'r1', region: 'eu-west' })),
    (error: unknown) =>
      error instanceof PipelineError &&
      error.code === ErrorCodes.REGION_FORBIDDEN &&
      /rule "free" routes record r1 of region "eu-west" to lane bulk/.test(error.message),
  );
});
