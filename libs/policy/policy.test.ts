import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type TaggedOverrides, taggedPattern } from '@patternflow/fixtures';
import type { TaggedPattern } from '@patternflow/records';
import { loadPolicy, parsePolicy } from './index.ts';

/** A tagged payments record of a free-tier tenant in eu-west, "legit" at 0.99 unless overridden. */
function record(over: TaggedOverrides & { label?: string; score?: number } = {}): TaggedPattern {
  const { label = 'legit', score = 0.99, ...rest } = over;
  return taggedPattern({
    source: 'payments',
    kind: 'card_payment',
    tier: 'free',
    region: 'eu-west',
    ...rest,
    inference: { label, score },
  });
}

const HEAD = 'version: "t1"\nlanes: [critical, standard, bulk]\nrules:\n';
const DEFAULT = '  - name: default\n    lane: standard\n';

/** Asserts parsePolicy rejects the text with POLICY_INVALID and a message matching every pattern. */
function rejects(text: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => parsePolicy(text, 'policies/test.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof PipelineError, 'a PipelineError');
      assert.equal(err.code, ErrorCodes.POLICY_INVALID);
      assert.match(err.message, /^policies\/test\.yaml: /);
      for (const p of patterns) assert.match(err.message, p);
      return true;
    },
  );
}

describe('parsePolicy: validation errors', () => {
  test('not YAML / not a mapping / unknown top-level key', () => {
    rejects('version: [', /not valid YAML/);
    rejects('- a\n- b\n', /must be a mapping/);
    rejects(`${HEAD}${DEFAULT}extra: 1\n`, /unknown top-level key "extra"/);
  });

  test('version must be a string', () => {
    rejects(`version: 1.0\nlanes: [standard]\nrules:\n${DEFAULT}`, /version: must be a non-empty string/);
  });

  test('lanes must be declared, valid and unique', () => {
    rejects(`version: "x"\nrules:\n${DEFAULT}`, /lanes: must be a non-empty list/);
    rejects(`version: "x"\nlanes: [standard, standard]\nrules:\n${DEFAULT}`, /"standard" is declared twice/);
    rejects(
      `version: "x"\nlanes: [standard, "Bad Lane"]\nrules:\n${DEFAULT}`,
      /"Bad Lane" is not a lane name/,
    );
  });

  test('rules must be a non-empty list', () => {
    rejects(`${HEAD}`, /rules: must be a non-empty list/);
  });

  test('unknown lane names the rule', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: urgent\n    when: { tier: free }\n${DEFAULT}`,
      /rule #1 "a": unknown lane "urgent" \(declared lanes: critical, standard, bulk\)/,
    );
  });

  test('unknown field and unknown operators', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { country: FR }\n${DEFAULT}`,
      /rule #1 "a" when\.country: unknown field "country"/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { tier: { like: "f%" } }\n${DEFAULT}`,
      /rule #1 "a" when\.tier: unknown operator "like" for tier/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { ge: 0.5 } }\n${DEFAULT}`,
      /rule #1 "a" when\.score: unknown operator "ge" for score/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    priority: 1\n    when: { tier: free }\n${DEFAULT}`,
      /unknown key "priority"/,
    );
  });

  test('duplicate rule names', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { tier: free }\n  - name: a\n    lane: bulk\n    when: { tier: business }\n${DEFAULT}`,
      /rule #2 "a": duplicate rule name \(first used by rule #1\)/,
    );
  });

  test('bad types: score bounds must be numbers in [0,1], string operands must be strings', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { gte: "high" } }\n${DEFAULT}`,
      /when\.score\.gte: must be a number in \[0, 1\], got "high"/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { lt: 1.5 } }\n${DEFAULT}`,
      /score\.lt: must be a number in \[0, 1\], got 1\.5/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { gt: -0.1 } }\n${DEFAULT}`,
      /must be a number in \[0, 1\]/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { gt: 0.1, gte: 0.2 } }\n${DEFAULT}`,
      /either gte or gt/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { label: { in: [] } }\n${DEFAULT}`,
      /label\.in: must be a non-empty list of strings/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { tier: 3 }\n${DEFAULT}`,
      /when\.tier: must be a string, a list of strings/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: {}\n${DEFAULT}`,
      /rule #1 "a" when: must be a non-empty mapping/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { any: [] }\n${DEFAULT}`,
      /when\.any: must be a non-empty list/,
    );
    rejects(
      `${HEAD}  - name: "has space"\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
      /rule #1 "has space": name must be/,
    );
  });

  test('missing default: the last rule must be unconditional', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { tier: free }\n`,
      /rule #1 "a": the last rule must be the unconditional default/,
    );
  });

  test('unreachable: any rule after an unconditional rule', () => {
    rejects(
      `${HEAD}  - name: catch-all\n    lane: bulk\n  - name: late\n    lane: critical\n    when: { tier: free }\n${DEFAULT}`,
      /rule #1 "catch-all": has no `when`, so it matches everything and rules #2\.\.#3 are unreachable/,
    );
  });

  test('unreachable: equality implied by an earlier in-list', () => {
    rejects(
      `${HEAD}  - name: low-tiers\n    lane: bulk\n    when: { tier: [free, standard] }\n  - name: free\n    lane: critical\n    when: { tier: free, region: eu }\n${DEFAULT}`,
      /rule #2 "free": is unreachable: every record it matches is already matched by rule #1 "low-tiers"/,
    );
  });

  test('unreachable: narrower score range, and not_in implied by a wider not_in', () => {
    rejects(
      `${HEAD}  - name: high\n    lane: critical\n    when: { score: { gte: 0.8 } }\n  - name: higher\n    lane: standard\n    when: { score: { gt: 0.9, lte: 1 }, label: fraud }\n${DEFAULT}`,
      /rule #2 "higher": is unreachable.*rule #1 "high"/,
    );
    rejects(
      `${HEAD}  - name: not-eu\n    lane: standard\n    when: { region: { not_in: [eu] } }\n  - name: not-eu-us\n    lane: bulk\n    when: { region: { not_in: [eu, us] } }\n${DEFAULT}`,
      /rule #2 "not-eu-us": is unreachable/,
    );
    rejects(
      `${HEAD}  - name: not-eu\n    lane: standard\n    when: { region: { not_in: [eu] } }\n  - name: us\n    lane: bulk\n    when: { region: us }\n${DEFAULT}`,
      /rule #2 "us": is unreachable/,
    );
  });

  test('unreachable: every branch of an any is covered by some earlier rule', () => {
    rejects(
      `${HEAD}  - name: fraud\n    lane: critical\n    when: { label: fraud }\n  - name: ent\n    lane: critical\n    when: { tier: enterprise }\n  - name: either\n    lane: standard\n    when:\n      any:\n        - { label: fraud, score: { gte: 0.5 } }\n        - { tier: enterprise }\n${DEFAULT}`,
      /rule #3 "either": is unreachable: every record it matches is already matched by rule #1 "fraud", rule #2 "ent"/,
    );
  });

  test('contradictory conditions never match', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { score: { gte: 0.9, lt: 0.5 } }\n${DEFAULT}`,
      /rule #1 "a": can never match/,
    );
    rejects(
      `${HEAD}  - name: a\n    lane: bulk\n    when: { all: [ { tier: free }, { tier: { not_in: [free] } } ] }\n${DEFAULT}`,
      /rule #1 "a": can never match/,
    );
  });

  test('all problems of a file are reported together', () => {
    rejects(
      `${HEAD}  - name: a\n    lane: nowhere\n    when: { colour: red }\n  - name: a\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
      /unknown lane "nowhere"/,
      /unknown field "colour"/,
      /duplicate rule name/,
    );
  });
});

describe('parsePolicy: reachable rules are accepted', () => {
  test('overlapping but not implied rules pass the check', () => {
    const p = parsePolicy(
      `${HEAD}  - name: fraud-high\n    lane: critical\n    when: { label: fraud, score: { gte: 0.8 } }\n  - name: fraud\n    lane: standard\n    when: { label: fraud }\n  - name: score-edge\n    lane: standard\n    when: { score: { gt: 0.79, lt: 0.81 } }\n  - name: not-eu\n    lane: standard\n    when: { region: { not_in: [eu] } }\n  - name: not-us\n    lane: bulk\n    when: { region: { not_in: [us] } }\n${DEFAULT}`,
      'inline',
    );
    assert.equal(p.route(record({ label: 'fraud', score: 0.5 })).rule, 'fraud');
    assert.equal(p.route(record({ region: 'us' })).rule, 'not-eu');
    assert.equal(p.route(record({ region: 'eu' })).rule, 'not-us');
  });

  test('a rule after a full-range score rule is reachable: a NaN score matches no score condition', () => {
    const p = parsePolicy(
      `${HEAD}  - name: any-score\n    lane: critical\n    when: { score: { gte: 0 } }\n  - name: free\n    lane: bulk\n    when: { tier: free }\n${DEFAULT}`,
      'inline',
    );
    assert.equal(p.route(record({ score: Number.NaN })).rule, 'free');
  });

  test('a score bound equal to an earlier open bound is still reachable', () => {
    const p = parsePolicy(
      `${HEAD}  - name: above\n    lane: critical\n    when: { score: { gt: 0.8 } }\n  - name: at-or-above\n    lane: standard\n    when: { score: { gte: 0.8 } }\n${DEFAULT}`,
      'inline',
    );
    assert.deepEqual(p.route(record({ score: 0.8 })), { lane: 'standard', rule: 'at-or-above' });
    assert.deepEqual(p.route(record({ score: 0.81 })), { lane: 'critical', rule: 'above' });
  });
});

describe('route(): decisions', () => {
  const policy = parsePolicy(
    `version: "v7"
lanes: [critical, standard, bulk]
rules:
  - name: threat
    lane: critical
    when: { label: [fraud, ddos], score: { gte: 0.8 } }
  - name: enterprise-or-gold-region
    lane: critical
    when:
      any:
        - { tier: enterprise, label: { not_in: [legit, benign] } }
        - { region: gold, source: { eq: auth } }
  - name: unsure
    lane: standard
    when: { score: { lt: 0.6 } }
  - name: free-benign
    lane: bulk
    when:
      all:
        - { tier: free }
        - { label: { in: [legit, benign] } }
        - { kind: { not_in: [refund] } }
  - name: default
    lane: standard
`,
    'inline',
  );

  test('version and lanes are exposed', () => {
    assert.equal(policy.version, 'v7');
    assert.deepEqual(policy.lanes, ['critical', 'standard', 'bulk']);
  });

  test('first match wins, in file order', () => {
    assert.deepEqual(policy.route(record({ label: 'fraud', score: 0.9, tier: 'enterprise' })), {
      lane: 'critical',
      rule: 'threat',
    });
    assert.deepEqual(policy.route(record({ label: 'fraud', score: 0.7, tier: 'enterprise' })), {
      lane: 'critical',
      rule: 'enterprise-or-gold-region',
    });
    assert.deepEqual(policy.route(record({ label: 'fraud', score: 0.5, tier: 'free' })), {
      lane: 'standard',
      rule: 'unsure',
    });
  });

  test('score bounds are inclusive or exclusive as written', () => {
    assert.equal(policy.route(record({ label: 'ddos', score: 0.8 })).rule, 'threat');
    assert.equal(policy.route(record({ label: 'ddos', score: 0.7999 })).rule, 'default');
    assert.equal(policy.route(record({ score: 0.6, tier: 'business' })).rule, 'default');
    assert.equal(policy.route(record({ score: 0.5999, tier: 'business' })).rule, 'unsure');
  });

  test('any / all / not_in combinators', () => {
    assert.equal(policy.route(record({ region: 'gold', source: 'auth' })).rule, 'enterprise-or-gold-region');
    assert.equal(policy.route(record({ region: 'gold', source: 'payments' })).rule, 'free-benign');
    assert.equal(policy.route(record({ kind: 'refund' })).rule, 'default');
    assert.equal(policy.route(record({ tier: 'enterprise', label: 'legit' })).rule, 'default');
  });

  test('a NaN score matches no score condition and falls through to later rules', () => {
    assert.equal(policy.route(record({ label: 'fraud', score: Number.NaN })).rule, 'default');
  });

  test('decisions are shared frozen objects: no allocation per record', () => {
    const a = policy.route(record());
    const b = policy.route(record({ id: 'other' }));
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a));
  });
});

describe('loadPolicy', () => {
  test('reads a file and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pf-policy-'));
    try {
      const good = join(dir, 'good.yaml');
      writeFileSync(good, `${HEAD}${DEFAULT}`);
      assert.equal(loadPolicy(good).version, 't1');
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, `${HEAD}  - name: a\n    lane: x\n`);
      assert.throws(
        () => loadPolicy(bad),
        (e: unknown) => e instanceof PipelineError && e.message.startsWith(`${bad}: `),
      );
      assert.throws(
        () => loadPolicy(join(dir, 'missing.yaml')),
        (e: unknown) =>
          e instanceof PipelineError && e.code === ErrorCodes.POLICY_INVALID && /cannot read/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('expedite', () => {
  const RULES = `${HEAD}${DEFAULT}`;
  /** What the ingestor knows of a record: no inference yet. */
  function untagged(over: TaggedOverrides = {}) {
    const { inference: _, ...rest } = record(over);
    return rest;
  }

  test('is optional: a policy without it expedites nothing', () => {
    const policy = parsePolicy(RULES, 'p');
    assert.deepEqual(policy.expedite, []);
    assert.equal(policy.expedites(record({ tier: 'enterprise' })), false);
  });

  test('uses the rules grammar; any entry that holds expedites', () => {
    const policy = parsePolicy(
      `${RULES}expedite:\n` +
        '  - name: big\n    description: enterprise\n    when: { tier: enterprise }\n' +
        '  - name: threat\n    when:\n      label: [fraud]\n      score: { gte: 0.8 }\n',
      'p',
    );
    assert.deepEqual(policy.expedite, [
      { name: 'big', description: 'enterprise' },
      { name: 'threat', description: undefined },
    ]);
    assert.equal(policy.expedites(record({ tier: 'enterprise' })), true);
    assert.equal(policy.expedites(record({ label: 'fraud', score: 0.9 })), true);
    assert.equal(policy.expedites(record({ label: 'fraud', score: 0.7 })), false);
    assert.equal(policy.expedites(record({ label: 'legit', score: 0.9 })), false);
  });

  test('before inference, a condition on label or score is not met, whatever its operator', () => {
    const policy = parsePolicy(
      `${RULES}expedite:\n` +
        '  - name: not-benign\n    when: { label: { not_in: [legit] } }\n' +
        '  - name: not-benign-2\n    when: { label: { not_in: [legit, normal] } }\n' +
        '  - name: low\n    when: { score: { lt: 0.5 } }\n' +
        '  - name: either\n    when:\n      any:\n        - { tier: business }\n        - { label: fraud }\n',
      'p',
    );
    assert.equal(policy.expedites(untagged()), false);
    assert.equal(policy.expedites(untagged({ tier: 'business' })), true, 'the branch that needs no label');
    // With the inference, the same conditions hold.
    assert.equal(policy.expedites(record({ label: 'fraud', score: 0.99 })), true);
    assert.equal(policy.expedites(record({ label: 'legit', score: 0.3 })), true);
    assert.equal(policy.expedites(record({ label: 'legit', score: 0.99 })), false);
  });

  test('is no routing decision: the rules route as without it', () => {
    const text = `${HEAD}  - name: fraud\n    lane: critical\n    when: { label: fraud }\n${DEFAULT}`;
    const plain = parsePolicy(text, 'p');
    const hinted = parsePolicy(`${text}expedite:\n  - name: all-free\n    when: { tier: free }\n`, 'p');
    for (const r of [record(), record({ label: 'fraud' }), record({ tier: 'enterprise' })]) {
      assert.deepEqual(hinted.route(r), plain.route(r));
    }
    assert.deepEqual(hinted.rules, plain.rules);
  });

  test('names unique and valid, when required and valid, no unknown keys', () => {
    rejects(`${RULES}expedite: { name: x }\n`, /expedite: must be a list/);
    rejects(`${RULES}expedite:\n  - just-a-string\n`, /expedite #1: must be a mapping/);
    rejects(
      `${RULES}expedite:\n  - name: a\n    when: { tier: free }\n  - name: a\n    when: { tier: business }\n`,
      /expedite #2 "a": duplicate expedite name \(first used by expedite #1\)/,
    );
    rejects(
      `${RULES}expedite:\n  - name: "bad name"\n    when: { tier: free }\n`,
      /expedite #1 "bad name": name must be/,
    );
    rejects(`${RULES}expedite:\n  - name: a\n`, /expedite #1 "a": when is required/);
    rejects(
      `${RULES}expedite:\n  - name: a\n    when: {}\n`,
      /expedite #1 "a" when: must be a non-empty mapping/,
    );
    rejects(
      `${RULES}expedite:\n  - name: a\n    when: { colour: red }\n`,
      /expedite #1 "a" when\.colour: unknown field "colour"/,
    );
    rejects(
      `${RULES}expedite:\n  - name: a\n    when: { score: { gte: 2 } }\n`,
      /expedite #1 "a" when\.score\.gte: must be a number in \[0, 1\]/,
    );
    rejects(
      `${RULES}expedite:\n  - name: a\n    lane: critical\n    when: { tier: free }\n`,
      /unknown key "lane"/,
    );
    rejects(
      `${RULES}expedite:\n  - name: a\n    description: 3\n    when: { tier: free }\n`,
      /description must be a string/,
    );
  });

  test('an expedite name may equal a rule name: they name different things', () => {
    const policy = parsePolicy(`${RULES}expedite:\n  - name: default\n    when: { tier: free }\n`, 'p');
    assert.equal(policy.expedites(record()), true);
  });
});
