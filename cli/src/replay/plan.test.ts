import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReplay, renderPlan, rewinds } from './plan.ts';

const committed = [
  {
    topic: 'ns.patterns.tagged',
    partitions: [
      { partition: 0, offset: '100' },
      { partition: 1, offset: '40' },
      { partition: 2, offset: '-1' },
      { partition: 3, offset: '7' },
    ],
  },
];
const atTime = [
  {
    topic: 'ns.patterns.tagged',
    partitions: [
      { partition: 3, offset: '7' },
      { partition: 0, offset: '60' },
      { partition: 1, offset: '55' },
      { partition: 2, offset: '10' },
    ],
  },
];

test('only partitions the group read past --from move back; nothing moves forward', () => {
  const rows = planReplay(committed, atTime);
  assert.deepEqual(
    rows.map(({ partition, current, target, action, records }) => [
      partition,
      current,
      target,
      action,
      records,
    ]),
    [
      [0, '100', '60', 'rewind', 40],
      [1, '40', '55', 'not-there-yet', 0],
      [2, null, '10', 'no-commit', 0],
      [3, '7', '7', 'at-target', 0],
    ],
  );
  assert.deepEqual(rewinds(rows), [
    { topic: 'ns.patterns.tagged', partitions: [{ partition: 0, offset: '60' }] },
  ]);
});

test('a topic the group never committed on is no-commit everywhere', () => {
  const rows = planReplay([], [{ topic: 't', partitions: [{ partition: 0, offset: '0' }] }]);
  assert.equal(rows[0]?.action, 'no-commit');
  assert.deepEqual(rewinds(rows), []);
});

test('the plan as a table: committed → new, records, and why a partition is kept', () => {
  const text = renderPlan(planReplay(committed, atTime));
  assert.match(text, /^TOPIC +PARTITION +COMMITTED +NEW +RECORDS +NOTE$/m);
  assert.match(text, /ns\.patterns\.tagged +0 +100 +60 +40 +replayed/);
  assert.match(text, /ns\.patterns\.tagged +1 +40 +- +0 +kept: the group has not read up to --from yet/);
});
