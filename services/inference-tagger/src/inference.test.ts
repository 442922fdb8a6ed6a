import assert from 'node:assert/strict';
import { test } from 'node:test';
import { predictByModel } from './inference.ts';

test('rows of several models: one predict call per model, outcomes back in row order', async () => {
  const calls: [string, number[]][] = [];
  const run = predictByModel({
    predict: async (modelKey, rows) => {
      calls.push([modelKey, rows.map((r) => r[0]!)]);
      return rows.map((r) => ({
        ok: true as const,
        prediction: {
          label: `${modelKey}-${r[0]}`,
          score: 1,
          scores: {},
          modelName: modelKey,
          modelVersion: '1',
          modelSha256: 'ab'.repeat(32),
        },
      }));
    },
  });
  const row = (modelKey: string, n: number) => ({ modelKey, values: new Float32Array([n]) });
  const outcomes = await run([row('a', 1), row('b', 2), row('a', 3)]);
  assert.deepEqual(calls, [
    ['a', [1, 3]],
    ['b', [2]],
  ]);
  assert.deepEqual(
    outcomes.map((o) => (o.ok ? o.prediction.label : 'error')),
    ['a-1', 'b-2', 'a-3'],
  );
});
