import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { parsePolicy } from './index.ts';

const HEAD = `version: "r1"
lanes: [critical, standard, bulk]
sinks:
  critical: [postgres]
  standard: [postgres]
  bulk: [postgres, cold]
`;
const EU_LANES = 'regions:\n  eu: { lanes: [critical, standard] }\n';
const EU_SINKS = 'regions:\n  eu: { sinks: [postgres] }\n';
const DEFAULT = '  - name: default\n    lane: standard\n';

function problemsOf(text: string): string {
  try {
    parsePolicy(text, 'regional.yaml');
  } catch (error) {
    assert.ok(error instanceof PipelineError);
    assert.equal(error.code, ErrorCodes.POLICY_INVALID);
    return error.message;
  }
  assert.fail('the policy was accepted');
}

const accepts = (text: string) => parsePolicy(text, 'regional.yaml');

describe('regions: the validator proves no record of a region reaches a forbidden lane', () => {
  test('a bulk rule that ignores the region is refused, naming rule, region and lane', () => {
    const message = problemsOf(
      `${HEAD}${EU_LANES}rules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
    );
    assert.match(
      message,
      /rule #1 "cheap" \(lane bulk\): records of region "eu" can reach it, but regions\.eu allows only lanes critical, standard/,
    );
    assert.match(message, /region: \{ not_in: \[eu\] \}/);
  });

  test('excluding the region in the rule itself, or with not_in, is accepted', () => {
    accepts(
      `${HEAD}${EU_LANES}rules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free, region: { not_in: [eu] } }\n${DEFAULT}`,
    );
    accepts(
      `${HEAD}${EU_LANES}rules:\n  - name: us\n    lane: bulk\n    when: { region: [us, ap] }\n${DEFAULT}`,
    );
  });

  test("an earlier rule that takes every record of the region makes a later rule's lane safe", () => {
    accepts(
      `${HEAD}${EU_LANES}rules:\n  - name: eu-hot\n    lane: standard\n    when: { region: eu }\n  - name: cheap\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
    );
    // Only the free tier of the region is taken first: the bulk rule still reaches eu records of other tiers.
    assert.match(
      problemsOf(
        `${HEAD}${EU_LANES}rules:\n  - name: eu-free\n    lane: standard\n    when: { region: eu, tier: free }\n  - name: netflow\n    lane: bulk\n    when: { source: netflow }\n${DEFAULT}`,
      ),
      /rule #2 "netflow" \(lane bulk\): records of region "eu"/,
    );
  });

  test('the default rule: its lane must be allowed, or an earlier rule must take the whole region', () => {
    const euCriticalOnly = 'regions:\n  eu: { lanes: [critical] }\n';
    assert.match(
      problemsOf(
        `${HEAD}${euCriticalOnly}rules:\n  - name: fraud\n    lane: critical\n    when: { label: fraud }\n${DEFAULT}`,
      ),
      /rule #2 "default" \(lane standard\): records of region "eu" can reach it/,
    );
    accepts(
      `${HEAD}${euCriticalOnly}rules:\n  - name: eu-all\n    lane: critical\n    when: { region: eu }\n${DEFAULT}`,
    );
  });

  test('any: one branch that reaches the region is enough to refuse', () => {
    assert.match(
      problemsOf(
        `${HEAD}${EU_LANES}rules:\n  - name: either\n    lane: bulk\n    when:\n      any:\n        - { tier: free, region: us }\n        - { source: netflow }\n${DEFAULT}`,
      ),
      /rule #1 "either" \(lane bulk\): records of region "eu"/,
    );
    accepts(
      `${HEAD}${EU_LANES}rules:\n  - name: either\n    lane: bulk\n    when:\n      any:\n        - { tier: free, region: us }\n        - { source: netflow, region: { not_in: [eu] } }\n${DEFAULT}`,
    );
  });

  test('all: the intersection of region conditions is what counts', () => {
    accepts(
      `${HEAD}${EU_LANES}rules:\n  - name: both\n    lane: bulk\n    when:\n      all:\n        - { region: [eu, us] }\n        - { region: { not_in: [eu] } }\n${DEFAULT}`,
    );
    assert.match(
      problemsOf(
        `${HEAD}${EU_LANES}rules:\n  - name: both\n    lane: bulk\n    when:\n      all:\n        - { region: [eu, us] }\n        - any: [ { tier: free }, { region: us } ]\n${DEFAULT}`,
      ),
      /rule #1 "both" \(lane bulk\): records of region "eu"/,
    );
  });

  test('a record without a usable score matches no score condition: a scored earlier rule does not shield', () => {
    assert.match(
      problemsOf(
        `${HEAD}${EU_LANES}rules:\n  - name: eu-scored\n    lane: standard\n    when: { region: eu, score: { gte: 0 } }\n  - name: cheap\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
      ),
      /rule #2 "cheap" \(lane bulk\): records of region "eu"/,
    );
  });

  test('conservative: records covered only by the union of earlier rules are still reported', () => {
    assert.match(
      problemsOf(
        `${HEAD}${EU_LANES}rules:\n  - name: eu-free\n    lane: standard\n    when: { region: eu, tier: free }\n  - name: eu-paid\n    lane: standard\n    when: { region: eu, tier: { not_in: [free] } }\n  - name: cheap\n    lane: bulk\n    when: { source: netflow }\n${DEFAULT}`,
      ),
      /rule #3 "cheap" \(lane bulk\): records of region "eu"/,
    );
  });

  test('sinks: a region limited to postgres may not reach a lane that also lands in cold files', () => {
    assert.match(
      problemsOf(
        `${HEAD}${EU_SINKS}rules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
      ),
      /rule #1 "cheap" \(lane bulk\): records of region "eu" can reach it, but lane bulk lands in postgres and cold, and regions\.eu allows only sinks postgres/,
    );
    const policy = accepts(
      `${HEAD}${EU_SINKS}rules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free, region: { not_in: [eu] } }\n${DEFAULT}`,
    );
    assert.deepEqual(policy.regions.get('eu')?.allowedLanes, ['critical', 'standard']);
  });

  test('every problem of the regional rules is reported together', () => {
    const message = problemsOf(
      `${HEAD}regions:\n  eu: { lanes: [critical, standard] }\n  ap: { sinks: [postgres] }\nrules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
    );
    assert.match(message, /records of region "eu"/);
    assert.match(message, /records of region "ap"/);
  });
});

describe('sinks and regions: their own validation', () => {
  test('sinks must list every lane, known sinks only, and postgres always', () => {
    const head = 'version: "s"\nlanes: [standard, bulk]\n';
    const rules = `rules:\n${DEFAULT}`;
    assert.match(
      problemsOf(`${head}sinks:\n  standard: [postgres]\n${rules}`),
      /sinks: lane "bulk" is missing/,
    );
    assert.match(
      problemsOf(`${head}sinks:\n  standard: [postgres]\n  bulk: [postgres, s3]\n${rules}`),
      /sinks\.bulk: unknown sink "s3" \(known: postgres, cold\)/,
    );
    assert.match(
      problemsOf(`${head}sinks:\n  standard: [postgres]\n  bulk: [cold]\n${rules}`),
      /sinks\.bulk: must include postgres/,
    );
    assert.match(
      problemsOf(
        `${head}sinks:\n  standard: [postgres]\n  bulk: [postgres]\n  archive: [postgres]\n${rules}`,
      ),
      /sinks\.archive: "archive" is not a declared lane/,
    );
  });

  test('regions: known lanes, sinks only with a sinks mapping, at least one lane left, no unknown keys', () => {
    const head = 'version: "s"\nlanes: [standard, bulk]\n';
    const rules = `rules:\n${DEFAULT}`;
    assert.match(
      problemsOf(`${head}regions:\n  eu: { lanes: [hot] }\n${rules}`),
      /regions\.eu\.lanes: unknown lane "hot"/,
    );
    assert.match(
      problemsOf(`${head}regions:\n  eu: { sinks: [postgres] }\n${rules}`),
      /regions\.eu\.sinks: needs the top-level `sinks:` mapping/,
    );
    assert.match(
      problemsOf(
        `${head}sinks:\n  standard: [postgres, cold]\n  bulk: [postgres, cold]\nregions:\n  eu: { sinks: [postgres] }\n${rules}`,
      ),
      /regions\.eu: allows no lane at all/,
    );
    assert.match(
      problemsOf(`${head}regions:\n  eu: { countries: [DE] }\n${rules}`),
      /regions\.eu: must be a mapping with lanes/,
    );
    assert.match(
      problemsOf(`${head}regions:\n  eu: { lanes: [standard], residency: strict }\n${rules}`),
      /regions\.eu: unknown key "residency"/,
    );
  });
});

describe('permits(): the run-time check', () => {
  const policy = accepts(
    `${HEAD}regions:\n  eu: { lanes: [critical, standard] }\nrules:\n  - name: cheap\n    lane: bulk\n    when: { tier: free, region: { not_in: [eu] } }\n${DEFAULT}`,
  );
  test('restricted regions are limited to their lanes; other regions reach every lane', () => {
    assert.equal(policy.permits('eu', 'standard'), true);
    assert.equal(policy.permits('eu', 'bulk'), false);
    assert.equal(policy.permits('us', 'bulk'), true);
  });
  test('the rules are listed in order with their lanes', () => {
    assert.deepEqual(policy.rules, [
      { lane: 'bulk', rule: 'cheap' },
      { lane: 'standard', rule: 'default' },
    ]);
  });
});
