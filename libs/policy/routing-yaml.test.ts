/** The repository's real policy (policies/routing.yaml): it loads, and a realistic mix uses every lane. */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { taggedPattern } from '@patternflow/fixtures';
import type { TaggedPattern } from '@patternflow/records';
import { REGIONS } from '@patternflow/sources';
import { coldLanesOf, loadPolicy } from './index.ts';

const policyPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies', 'routing.yaml');

/** mulberry32: a tiny seeded PRNG so the mix is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SOURCES = [
  {
    source: 'payments',
    kind: 'card_payment',
    benign: 'legit',
    threats: ['fraud'],
    threatRate: 0.03,
    share: 0.4,
  },
  {
    source: 'auth',
    kind: 'login',
    benign: 'normal',
    threats: ['account_takeover'],
    threatRate: 0.04,
    share: 0.3,
  },
  {
    source: 'netflow',
    kind: 'flow',
    benign: 'benign',
    threats: ['port_scan', 'ddos', 'exfiltration', 'brute_force'],
    threatRate: 0.08,
    share: 0.3,
  },
];
const TIERS: [string, number][] = [
  ['free', 0.4],
  ['standard', 0.3],
  ['business', 0.2],
  ['enterprise', 0.1],
];

function pick<T>(r: number, weighted: [T, number][]): T {
  let acc = 0;
  for (const [value, w] of weighted) {
    acc += w;
    if (r < acc) return value;
  }
  return weighted[weighted.length - 1]![0];
}

function syntheticMix(n: number, seed: number): TaggedPattern[] {
  const rand = prng(seed);
  return Array.from({ length: n }, (_, i) => {
    const s = pick(
      rand(),
      SOURCES.map((x) => [x, x.share] as [(typeof SOURCES)[number], number]),
    );
    const threat = rand() < s.threatRate;
    const label = threat ? (s.threats[Math.floor(rand() * s.threats.length)] as string) : s.benign;
    // Most verdicts are confident; about one in ten is borderline.
    const score = rand() < 0.9 ? 0.8 + rand() * 0.2 : 0.5 + rand() * 0.3;
    return taggedPattern({
      id: `mix-${i}`,
      source: s.source,
      kind: s.kind,
      tenant: `t-${i % 50}`,
      tier: pick(rand(), TIERS),
      region: REGIONS[Math.floor(rand() * REGIONS.length)] as string,
      inference: { label, score },
    });
  });
}

describe('policies/routing.yaml', () => {
  const policy = loadPolicy(policyPath);

  test('declares the three lanes, bulk the only one archived to cold files', () => {
    for (const lane of ['critical', 'standard', 'bulk']) assert.ok(policy.lanes.includes(lane), lane);
    assert.deepEqual(coldLanesOf(policy), ['bulk']);
  });

  test('EU regions are data-resident: never a lane that lands in cold files', () => {
    for (const region of ['eu-west', 'eu-central']) {
      assert.deepEqual(policy.regions.get(region)?.allowedLanes, ['critical', 'standard'], region);
    }
    assert.ok(
      REGIONS.every((region) => region.startsWith('eu-') || !policy.regions.has(region)),
      'only EU regions are restricted',
    );
  });

  test('typical records land where the policy says', () => {
    const [base] = syntheticMix(1, 1) as [TaggedPattern];
    const r = (over: Partial<TaggedPattern>, label: string, score: number): TaggedPattern => ({
      ...base,
      ...over,
      inference: { ...base.inference, label, score },
    });
    assert.equal(policy.route(r({ tier: 'free' }, 'fraud', 0.95)).lane, 'critical');
    assert.equal(policy.route(r({ tier: 'enterprise' }, 'port_scan', 0.7)).lane, 'critical');
    assert.equal(policy.route(r({ tier: 'free' }, 'port_scan', 0.7)).lane, 'standard');
    assert.equal(policy.route(r({ tier: 'free' }, 'legit', 0.55)).lane, 'standard');
    assert.equal(policy.route(r({ tier: 'free', region: 'us-east' }, 'legit', 0.97)).lane, 'bulk');
    assert.equal(
      policy.route(r({ tier: 'business', source: 'netflow', region: 'ap-south' }, 'benign', 0.97)).lane,
      'bulk',
    );
    assert.deepEqual(policy.route(r({ tier: 'free', region: 'eu-central' }, 'legit', 0.97)), {
      lane: 'standard',
      rule: 'eu-residency',
    });
    assert.deepEqual(policy.route(r({ tier: 'enterprise', source: 'payments' }, 'legit', 0.97)), {
      lane: 'standard',
      rule: 'default',
    });
  });

  test('expedite: enterprise tenants from ingest on, confident threats from the tagger on', () => {
    const [base] = syntheticMix(1, 1) as [TaggedPattern];
    const { inference: _, ...untagged } = base;
    const tagged = (over: Partial<TaggedPattern>, label: string, score: number): TaggedPattern => ({
      ...base,
      ...over,
      inference: { ...base.inference, label, score },
    });
    assert.deepEqual(
      policy.expedite.map((e) => e.name),
      ['enterprise-tenants', 'confident-threat'],
    );
    assert.equal(policy.expedites({ ...untagged, tier: 'enterprise' }), true);
    assert.equal(policy.expedites({ ...untagged, tier: 'free' }), false);
    assert.equal(policy.expedites(tagged({ tier: 'free' }, 'fraud', 0.95)), true);
    assert.equal(policy.expedites(tagged({ tier: 'free' }, 'fraud', 0.5)), false);
    assert.equal(policy.expedites(tagged({ tier: 'enterprise' }, 'legit', 0.99)), true);
  });

  test('on a realistic mix, every critical record is expedited by the tagger, and few others are', (t) => {
    const records = syntheticMix(20_000, 7);
    let critical = 0;
    let criticalNotExpedited = 0;
    let expedited = 0;
    for (const rec of records) {
      const fast = policy.expedites(rec);
      if (fast) expedited++;
      if (policy.route(rec).lane === 'critical') {
        critical++;
        if (!fast) criticalNotExpedited++;
      }
    }
    assert.ok(critical > 0);
    assert.equal(criticalNotExpedited, 0, 'a critical record waited behind the bulk');
    // Enterprise is 10 % of the mix, confident threats a few %: the expedited lane stays small.
    t.diagnostic(
      `expedited ${((100 * expedited) / records.length).toFixed(1)}%, critical ${((100 * critical) / records.length).toFixed(1)}%`,
    );
    assert.ok(expedited / records.length < 0.2, `expedited ${expedited / records.length}`);
  });

  test('a realistic mix reaches every lane, and benign traffic mostly goes to bulk or standard', (t) => {
    const records = syntheticMix(20_000, 42);
    const lanes = new Map<string, number>();
    let benign = 0;
    let benignCritical = 0;
    let euBulk = 0;
    for (const rec of records) {
      const { lane } = policy.route(rec);
      if (!policy.permits(rec.region, lane)) euBulk++;
      lanes.set(lane, (lanes.get(lane) ?? 0) + 1);
      if (['legit', 'normal', 'benign'].includes(rec.inference.label)) {
        benign++;
        if (lane === 'critical') benignCritical++;
      }
    }
    const share = (lane: string) => (lanes.get(lane) ?? 0) / records.length;
    t.diagnostic(
      `lane shares: ${[...lanes].map(([l, n]) => `${l} ${((100 * n) / records.length).toFixed(1)}%`).join(', ')}`,
    );
    assert.ok(share('critical') > 0.01 && share('critical') < 0.1, `critical ${share('critical')}`);
    assert.ok(share('standard') > 0.15, `standard ${share('standard')}`);
    assert.ok(share('bulk') > 0.4, `bulk ${share('bulk')}`);
    assert.equal(benignCritical, 0, 'no benign verdict is critical');
    assert.equal(euBulk, 0, 'no record reaches a lane its region forbids');
    assert.ok(benign > records.length * 0.9);
  });
});
