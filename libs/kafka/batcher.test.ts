import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBatcher } from './batcher.ts';

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test('submissions of one event-loop turn share one call, and each caller gets its own results', async () => {
  const runs: number[][] = [];
  const batcher = createBatcher<number, number>({
    maxSize: 100,
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

test('an idle batcher runs a lone submission without a timer', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const batcher = createBatcher<number, number>({ maxSize: 100, run: async (items) => items });
  // With mocked timers a linger timer would never fire: the result proves there is none.
  assert.deepEqual(await batcher.submit([7]), [7]);
});

test('while a call runs, submissions queue and all go into the next call', async () => {
  const runs: number[][] = [];
  const release = deferred();
  const batcher = createBatcher<number, number>({
    maxSize: 100,
    run: async (items) => {
      runs.push(items);
      if (runs.length === 1) await release.promise;
      return items;
    },
  });
  const first = batcher.submit([1]);
  await new Promise((resolve) => setImmediate(resolve));
  const later = [batcher.submit([2]), batcher.submit([3, 4])];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(runs, [[1]], 'one call at a time');
  release.resolve();
  assert.deepEqual(await first, [1]);
  assert.deepEqual(await Promise.all(later), [[2], [3, 4]]);
  assert.deepEqual(runs, [[1], [2, 3, 4]]);
});

test('maxSize splits between callers, never inside one', async () => {
  const runs: number[][] = [];
  const batcher = createBatcher<number, number>({
    maxSize: 3,
    run: async (items) => {
      runs.push(items);
      return items;
    },
  });
  const results = await Promise.all([
    batcher.submit([1, 2]),
    batcher.submit([3, 4]),
    batcher.submit([5, 6, 7, 8]),
  ]);
  assert.deepEqual(results, [
    [1, 2],
    [3, 4],
    [5, 6, 7, 8],
  ]);
  assert.deepEqual(runs, [
    [1, 2],
    [3, 4],
    [5, 6, 7, 8],
  ]);
});

test('sizeOf weighs the items against maxSize', async () => {
  const runs: string[][] = [];
  const batcher = createBatcher<string, string>({
    maxSize: 10,
    sizeOf: (item) => item.length,
    run: async (items) => {
      runs.push(items);
      return items;
    },
  });
  await Promise.all([batcher.submit(['aaaa', 'bbbb']), batcher.submit(['cccc']), batcher.submit(['d'])]);
  assert.deepEqual(runs, [
    ['aaaa', 'bbbb'],
    ['cccc', 'd'],
  ]);
});

test('a failing call rejects every caller in it, and the next call still runs', async () => {
  let calls = 0;
  const batcher = createBatcher<number, number>({
    maxSize: 10,
    run: async (items) => {
      calls += 1;
      if (calls === 1) throw new Error('model crashed');
      return items;
    },
  });
  const failing = [batcher.submit([1]), batcher.submit([2])];
  await Promise.all(failing.map((p) => assert.rejects(p, /model crashed/)));
  assert.deepEqual(await batcher.submit([3]), [3]);
});

test('a call that returns the wrong number of results rejects its callers', async () => {
  const batcher = createBatcher<number, number>({ maxSize: 10, run: async () => [1] });
  await assert.rejects(batcher.submit([1, 2]), /returned 1 results for 2 items/);
});

test('a run that throws synchronously rejects its callers', async () => {
  const batcher = createBatcher<number, number>({
    maxSize: 10,
    run: () => {
      throw new Error('sync failure');
    },
  });
  await assert.rejects(batcher.submit([1]), /sync failure/);
});

test('urgent callers go into the next call ahead of the others waiting, in their own order', async () => {
  const runs: number[][] = [];
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const batcher = createBatcher<number, number>({
    maxSize: 2,
    run: async (items) => {
      runs.push(items);
      if (runs.length === 1) await held;
      return items;
    },
  });
  const first = batcher.submit([0]);
  await new Promise((resolve) => setImmediate(resolve));
  const waiting = [
    batcher.submit([1]),
    batcher.submit([2]),
    batcher.submit([10], true),
    batcher.submit([11], true),
  ];
  release();
  await Promise.all([first, ...waiting]);
  assert.deepEqual(runs, [[0], [10, 11], [1, 2]]);
});

test('with maxInFlight, a full batch starts beside the call in flight; a partial one waits for it', async () => {
  const started: number[][] = [];
  const releases: (() => void)[] = [];
  const batcher = createBatcher<number, number>({
    maxSize: 2,
    maxInFlight: 2,
    run: async (items) => {
      started.push(items);
      await new Promise<void>((resolve) => releases.push(resolve));
      return items;
    },
  });
  const first = batcher.submit([1]);
  await new Promise((resolve) => setImmediate(resolve));
  const partial = batcher.submit([2]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [[1]], 'a partial batch waits for the call in flight');
  const full = batcher.submit([3]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(started, [[1], [2, 3]], 'once full, it starts beside it');
  const third = batcher.submit([4, 5]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(started.length, 2, 'never more than maxInFlight calls');
  for (const release of releases.splice(0)) release();
  await Promise.all([first, partial, full]);
  await new Promise((resolve) => setImmediate(resolve));
  for (const release of releases.splice(0)) release();
  assert.deepEqual(await third, [4, 5]);
});
