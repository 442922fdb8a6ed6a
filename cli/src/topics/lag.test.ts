import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeLag } from './lag.ts';

test('lag is end minus commit; without a commit, end minus the oldest retained offset', () => {
  const rows = computeLag(
    [
      {
        topic: 'a',
        partitions: [
          { partition: 0, offset: '40' },
          { partition: 1, offset: '-1' },
        ],
      },
    ],
    [
      {
        topic: 'a',
        partitions: [
          { partition: 1, low: '5', high: '25' },
          { partition: 0, low: '0', high: '100' },
        ],
      },
      { topic: 'b', partitions: [{ partition: 0, low: '0', high: '0' }] },
    ],
  );
  assert.deepEqual(rows, [
    { topic: 'a', partition: 0, committed: '40', end: '100', lag: 60 },
    { topic: 'a', partition: 1, committed: null, end: '25', lag: 20 },
    { topic: 'b', partition: 0, committed: null, end: '0', lag: 0 },
  ]);
});

test('a commit past the end (a topic recreated) is no negative lag', () => {
  const [row] = computeLag(
    [{ topic: 'a', partitions: [{ partition: 0, offset: '90' }] }],
    [{ topic: 'a', partitions: [{ partition: 0, low: '0', high: '10' }] }],
  );
  assert.equal(row?.lag, 0);
});
