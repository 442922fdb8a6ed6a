import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { binIndex, computeReference, DEFAULT_MODEL_STORE, type ModelReference } from './index.ts';

test('binIndex: bin 0 below the first edge, a value equal to an edge opens its bin, the last bin is open above', () => {
  const edges = [0, 1, 2.5];
  assert.deepEqual(
    [-1, 0, 0.99, 1, 2.49, 2.5, 1e9].map((v) => binIndex(edges, v)),
    [0, 1, 1, 2, 2, 3, 3],
  );
  assert.equal(binIndex([], 42), 0);
});

test('computeReference: decile edges of a continuous feature hold a tenth of the rows each', () => {
  const rows = Array.from({ length: 1000 }, (_, i) => Float32Array.of(i, i % 2));
  const labels = [...Array(80).fill('legit'), ...Array(20).fill('fraud')];
  const ref = computeReference({
    features: ['n', 'flag'],
    labels: ['legit', 'fraud'],
    trainRows: rows,
    trainSeed: 1,
    heldOutLabels: labels,
    heldOutSeed: 2,
  });
  const n = ref.features.bins.n!;
  assert.deepEqual(n.edges, [100, 200, 300, 400, 500, 600, 700, 800, 900]);
  assert.deepEqual(n.counts, [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]);
  assert.ok(n.shares.every((s) => s === 0.1));
  // a binary feature: duplicate deciles merge into one edge per distinct value
  const flag = ref.features.bins.flag!;
  assert.deepEqual(flag.edges, [0, 1]);
  assert.deepEqual(flag.counts, [0, 500, 500]);
  assert.deepEqual(ref.predicted_labels, {
    rows: 100,
    seed: 2,
    counts: { legit: 80, fraud: 20 },
    shares: { legit: 0.8, fraud: 0.2 },
  });
  assert.equal(ref.features.rows, 1000);
});

test('computeReference refuses a label the model does not have and a row of another width', () => {
  const base = { features: ['a'], labels: ['x', 'y'], trainSeed: 1, heldOutSeed: 2 };
  assert.throws(
    () => computeReference({ ...base, trainRows: [Float32Array.of(1)], heldOutLabels: ['z'] }),
    /"z" is not a model label/,
  );
  assert.throws(
    () => computeReference({ ...base, trainRows: [Float32Array.of(1, 2)], heldOutLabels: [] }),
    /row 0 has 2 features, expected 1/,
  );
});

test('every committed manifest carries a complete reference block', () => {
  for (const name of ['payments-fraud-rf', 'auth-ato-rf', 'netflow-attack-rf']) {
    const manifest = JSON.parse(
      readFileSync(join(DEFAULT_MODEL_STORE, name, '1.0.0', 'manifest.json'), 'utf8'),
    ) as {
      features: string[];
      labels: string[];
      training: { train_seed: number; test_seed: number; train_rows: number; test_rows: number };
      reference: ModelReference;
    };
    const ref = manifest.reference;
    assert.deepEqual(Object.keys(ref.features.bins), manifest.features, name);
    assert.equal(ref.features.rows, manifest.training.train_rows);
    assert.equal(ref.features.seed, manifest.training.train_seed);
    for (const [feature, bins] of Object.entries(ref.features.bins)) {
      assert.equal(bins.counts.length, bins.edges.length + 1, `${name} ${feature}`);
      assert.equal(
        bins.counts.reduce((a, b) => a + b, 0),
        manifest.training.train_rows,
      );
      assert.ok(
        bins.edges.every((e, i) => i === 0 || e > bins.edges[i - 1]!),
        `${name} ${feature} edges ascend`,
      );
    }
    assert.deepEqual(Object.keys(ref.predicted_labels.counts), manifest.labels);
    assert.equal(ref.predicted_labels.rows, manifest.training.test_rows);
    assert.equal(ref.predicted_labels.seed, manifest.training.test_seed);
  }
});
