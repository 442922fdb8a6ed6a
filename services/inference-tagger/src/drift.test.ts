import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { createDriftMonitor, type DriftModel, PSI_EPSILON, psi, referenceProblem } from './drift.ts';

// Two features: x with edges [1, 2] (3 bins, 1/3 each), hour (ignored), labels a 80% / b 20%.
const model: DriftModel = {
  name: 'm',
  version: '1.0.0',
  features: ['x', 'hour'],
  labels: ['a', 'b'],
  reference: {
    method: 'test',
    features: {
      rows: 300,
      seed: 1,
      bins: {
        x: { edges: [1, 2], counts: [100, 100, 100], shares: [1 / 3, 1 / 3, 1 / 3] },
        hour: { edges: [12], counts: [150, 150], shares: [0.5, 0.5] },
      },
    },
    predicted_labels: { rows: 100, seed: 2, counts: { a: 80, b: 20 }, shares: { a: 0.8, b: 0.2 } },
  },
};
const row = (x: number, hour = 3) => Float32Array.of(x, hour);

describe('psi', () => {
  test('is 0 for the reference itself and matches the formula term by term', () => {
    assert.equal(psi([10, 10, 10], [1 / 3, 1 / 3, 1 / 3]), 0);
    const expected = (0.5 - 0.25) * Math.log(0.5 / 0.25) + (0.5 - 0.75) * Math.log(0.5 / 0.75);
    assert.ok(Math.abs(psi([5, 5], [0.25, 0.75]) - expected) < 1e-12);
    assert.equal(psi([0, 0], [0.5, 0.5]), 0, 'an empty window has no drift');
  });
  test('an empty reference bin is floored at epsilon instead of dividing by zero', () => {
    const value = psi([1, 0], [0, 1]);
    const expected =
      (1 - PSI_EPSILON) * Math.log(1 / PSI_EPSILON) + (PSI_EPSILON - 1) * Math.log(PSI_EPSILON / 1);
    assert.ok(Math.abs(value - expected) < 1e-9, `${value} vs ${expected}`);
  });
});

describe('drift monitor', () => {
  test('a window like the reference has PSI ~0; a shifted window crosses 0.25; old records slide out', async () => {
    const registry = new Registry();
    const drift = createDriftMonitor(registry, { windowRecords: 30, buckets: 3, ignoreFeatures: ['hour'] });
    for (let i = 0; i < 30; i++)
      drift.observe('s', model, row([0.5, 1.5, 2.5][i % 3]!), i % 5 === 0 ? 'b' : 'a');
    let snap = drift.snapshot('s')!;
    assert.equal(snap.records, 30);
    assert.deepEqual(Object.keys(snap.features), ['x'], 'ignored features are not measured');
    assert.ok(snap.features.x! < 1e-9, `x PSI ${snap.features.x}`);
    assert.ok(snap.labels < 1e-9, `label PSI ${snap.labels}`);

    // 20 records all in the top bin: the first two buckets (20 old records) slide out.
    for (let i = 0; i < 20; i++) drift.observe('s', model, row(9), 'b');
    snap = drift.snapshot('s')!;
    assert.equal(snap.records, 30, 'the window keeps its size');
    drift.observe('s', model, row(9), 'b');
    assert.equal(drift.snapshot('s')!.records, 21, 'a bucket leaves when the next record needs its place');
    // The window now holds old records 20..29 and the 20 new ones, counted here independently.
    const counts = [0, 0, 0];
    for (let i = 20; i < 30; i++) counts[i % 3]!++;
    counts[2]! += 20;
    assert.ok(Math.abs(snap.features.x! - psi(counts, [1 / 3, 1 / 3, 1 / 3])) < 1e-12);
    assert.ok(snap.features.x! > 0.25, `x PSI ${snap.features.x} after the shift`);

    const text = await registry.metrics();
    // Fill stays 1 while the window slides (it holds 21..30 records from now on).
    assert.match(text, /pf_feature_psi\{source="s",model="m",feature="x"\} \d+\.\d+/);
    assert.match(text, /pf_label_psi\{source="s",model="m"\} \d/);
    assert.match(text, /pf_drift_window_fill\{source="s",model="m"\} 1/);
    assert.match(text, /pf_drift_records_total\{source="s",model="m"\} 51/);
    assert.doesNotMatch(text, /feature="hour"/);
  });

  test('another version of the model for the source starts a fresh window with its reference', () => {
    const drift = createDriftMonitor(new Registry(), { windowRecords: 10, buckets: 2 });
    for (let i = 0; i < 7; i++) drift.observe('s', model, row(9), 'a');
    drift.observe('s', { ...model, version: '1.1.0' }, row(0), 'a');
    const snap = drift.snapshot('s')!;
    assert.equal(snap.version, '1.1.0');
    assert.equal(snap.records, 1);
  });

  test('a window that is not a multiple of its buckets is refused', () => {
    assert.throws(
      () => createDriftMonitor(new Registry(), { windowRecords: 10, buckets: 3 }),
      /multiple of 3/,
    );
  });

  test('referenceProblem names what a manifest lacks', () => {
    assert.equal(referenceProblem(model), undefined);
    assert.match(referenceProblem({ ...model, reference: undefined })!, /no reference block/);
    assert.match(referenceProblem({ ...model, features: ['x', 'y'] })!, /feature "y"/);
    assert.match(referenceProblem({ ...model, labels: ['a', 'c'] })!, /label "c"/);
  });
});
