import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMicroBatcher } from './micro-batcher.ts';

test('concurrent submissions within the linger time share one run, and each gets its own results', async () => {
  const runs: number[][] = [];
  const batcher = createMicroBatcher<number, number>({
    maxSize: 100,
    lingerMs: 20,
    run: async (items) => {
      runs.push(items);
      return items.map((n) => n * 10);
    },
  });
  const [a, b] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3])]);
  assert.deepEqual(a, [10, 20]);
  assert.deepEqual(b, [30]);
  assert.deepEqual(runs, [[1, 2, 3]]);
});

test('a full batch runs at once without waiting for the linger time', async () => {
  const runs: number[][] = [];
  const batcher = createMicroBatcher<number, number>({
    maxSize: 4,
    lingerMs: 60_000,
    run: async (items) => {
      runs.push(items);
      return items;
    },
  });
  const started = Date.now();
  const [a, b] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3, 4])]);
  assert.ok(Date.now() - started < 5_000);
  assert.deepEqual(a, [1, 2]);
  assert.deepEqual(b, [3, 4]);
  assert.deepEqual(runs, [[1, 2, 3, 4]]);
});

test('items that would overflow the batch start the next one; a caller is never split', async () => {
  const runs: number[][] = [];
  const batcher = createMicroBatcher<number, number>({
    maxSize: 3,
    lingerMs: 10,
    run: async (items) => {
      runs.push(items);
      return items;
    },
  });
  const [a, b] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3, 4])]);
  assert.deepEqual(a, [1, 2]);
  assert.deepEqual(b, [3, 4]);
  assert.deepEqual(runs, [
    [1, 2],
    [3, 4],
  ]);
});

test('a failing run rejects every caller in that batch', async () => {
  const batcher = createMicroBatcher<number, number>({
    maxSize: 10,
    lingerMs: 5,
    run: async () => {
      throw new Error('model exploded');
    },
  });
  const results = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});
