import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latencyGoals, latencyMultiples } from './latency-goals.ts';

test('multiples are taken against four hops of the floor and of one relay', () => {
  assert.deepEqual(latencyMultiples({ p50: 40, p99: 120 }, { p50Ms: 2, p99Ms: 10 }, { p50: 5, p99: 20 }), {
    overFourFloor: { p50: 5, p99: 3, lowerBound: false },
    overFourRelay: { p50: 2, p99: 1.5 },
  });
});

test('a floor below the tool’s 1 ms resolution gives a lower bound, not a division by zero', () => {
  const { overFourFloor } = latencyMultiples(
    { p50: 40, p99: 120 },
    { p50Ms: 0, p99Ms: 10 },
    { p50: 5, p99: 20 },
  );
  assert.deepEqual(overFourFloor, { p50: 10, p99: 3, lowerBound: true });
});

test('each goal is met or not from the figures; a missing figure is neither', () => {
  const goals = latencyGoals({
    at50: { p50: 31, p99: 100 },
    perRate: [
      { label: '25%', p99: 120, relayP99: 20 },
      { label: '50%', p99: 150, relayP99: 20 },
    ],
    criticalP99Overload: null,
    criticalP99At25: 50,
    overloadMissing: 0,
  });
  assert.deepEqual(
    goals.map((g) => [g.goal, g.value, g.met]),
    [
      ['durable p99 at 50% ≤ 100 ms', 100, true],
      ['durable p50 at 50% ≤ 30 ms', 31, false],
      ['p99 ≤ 1.5 × (4 × relay p99) at 25%', 1.5, true],
      ['p99 ≤ 1.5 × (4 × relay p99) at 50%', 1.88, false],
      ['critical p99 in overload ≤ 2 × critical p99 at 25%', null, null],
      ['nothing lost in the overload', 0, true],
    ],
  );
});

test('a lost record fails the overload goal', () => {
  const goals = latencyGoals({
    at50: { p50: 10, p99: 50 },
    perRate: [],
    criticalP99Overload: 90,
    criticalP99At25: 50,
    overloadMissing: 3,
  });
  assert.deepEqual(
    goals.slice(-2).map((g) => [g.value, g.met]),
    [
      [1.8, true],
      [3, false],
    ],
  );
});
