import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadedModelVersion, ModelInfo, PredictionOutcome } from '@patternflow/models';
import { Registry } from 'prom-client';
import { canaryPicks, createDeploymentInference, type Deployed } from './deployments.ts';
import type { FeatureRow } from './handler.ts';
import { createModelMetrics } from './model-metrics.ts';

/** A stand-in version whose label is `<version>:<first feature>`, and fraud when the feature ≥ threshold. */
function version(v: string, threshold: number): LoadedModelVersion {
  const info = {
    name: 'payments-fraud-rf',
    version: v,
    source: 'payments',
    labels: ['legit', 'fraud'],
    sha256: v.replaceAll('.', '').padEnd(64, '0'),
    threshold,
  } as unknown as ModelInfo;
  return { info } as LoadedModelVersion;
}
const V1 = version('1.0.0', 5);
const V2 = version('1.1.0', 3);

const calls: [string, number][] = [];
const predictWith = async (
  model: LoadedModelVersion,
  rows: readonly Float32Array[],
): Promise<PredictionOutcome[]> => {
  calls.push([model.info.version, rows.length]);
  const threshold = (model.info as unknown as { threshold: number }).threshold;
  return rows.map((row) => ({
    ok: true,
    prediction: {
      label: row[0]! >= threshold ? 'fraud' : 'legit',
      score: 0.9,
      scores: {},
      modelName: model.info.name,
      modelVersion: model.info.version,
      modelSha256: model.info.sha256,
    },
  }));
};
const rows: FeatureRow[] = Array.from({ length: 400 }, (_, i) => ({
  id: `rec-${i}`,
  modelKey: 'payments',
  values: new Float32Array([i % 8]),
}));

function setup() {
  calls.length = 0;
  const registry = new Registry();
  const metrics = createModelMetrics(registry);
  metrics.deployed('payments', V1.info, { info: V2.info, mode: 'shadow' });
  return { registry, label: createDeploymentInference({ predictWith, metrics }) };
}
const snapshot = (deployed: Omit<Deployed, 'id'>) => new Map([['payments', { id: 'd', ...deployed }]]);
async function metricValue(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

test('the canary hash is stable per id and picks about `share` of the ids', () => {
  assert.equal(canaryPicks('rec-1', 0.5), canaryPicks('rec-1', 0.5));
  const picked = rows.filter((r) => canaryPicks(r.id, 0.25)).length;
  // Binomial(400, 0.25): sd 8.7; 4 sd either side.
  assert.ok(Math.abs(picked - 100) < 35, `${picked} of 400`);
  assert.equal(rows.filter((r) => canaryPicks(r.id, 1)).length, 400);
  // A smaller share picks a subset of a larger one: widening a canary keeps its records.
  for (const r of rows) if (canaryPicks(r.id, 0.1)) assert.ok(canaryPicks(r.id, 0.3));
});

test('serving only: one session.run, labels of the serving version', async () => {
  const { label } = setup();
  const out = await label(snapshot({ serving: V1, candidate: null }), rows);
  assert.deepEqual(calls, [['1.0.0', 400]]);
  assert.ok(out.every((o) => o.ok && o.prediction.modelVersion === '1.0.0' && o.shadow === undefined));
});

test('shadow: the candidate labels the same rows beside the serving version; disagreements are counted per class pair', async () => {
  const { label, registry } = setup();
  const out = await label(snapshot({ serving: V1, candidate: { model: V2, mode: 'shadow' } }), rows);
  assert.deepEqual(calls, [
    ['1.0.0', 400],
    ['1.1.0', 400],
  ]);
  let disagreements = 0;
  for (const [i, o] of out.entries()) {
    assert.ok(o.ok);
    assert.equal(o.prediction.modelVersion, '1.0.0', 'the serving version labels (and routes) every record');
    assert.equal(o.shadow?.modelVersion, '1.1.0');
    const x = i % 8;
    assert.equal(o.prediction.label, x >= 5 ? 'fraud' : 'legit');
    assert.equal(o.shadow?.label, x >= 3 ? 'fraud' : 'legit');
    if (o.prediction.label !== o.shadow?.label) disagreements++;
  }
  assert.equal(disagreements, 100, 'features 3 and 4: legit by 1.0.0, fraud by 1.1.0');
  assert.equal(await metricValue(registry, 'pf_shadow_records_total', { source: 'payments' }), 400);
  assert.equal(
    await metricValue(registry, 'pf_shadow_disagreements_total', {
      serving_label: 'legit',
      candidate_label: 'fraud',
    }),
    100,
  );
  assert.equal(
    await metricValue(registry, 'pf_shadow_disagreements_total', {
      serving_label: 'fraud',
      candidate_label: 'legit',
    }),
    0,
  );
});

test('canary: the records whose id hashes below the share are labelled by the candidate, the others by the serving version', async () => {
  const { label, registry } = setup();
  const out = await label(
    snapshot({ serving: V1, candidate: { model: V2, mode: 'canary', share: 0.3 } }),
    rows,
  );
  const expected = rows.map((r) => (canaryPicks(r.id, 0.3) ? '1.1.0' : '1.0.0'));
  assert.deepEqual(
    out.map((o) => (o.ok ? o.prediction.modelVersion : 'error')),
    expected,
  );
  assert.ok(out.every((o) => o.shadow === undefined));
  const canary = expected.filter((v) => v === '1.1.0').length;
  assert.deepEqual(calls, [
    ['1.1.0', canary],
    ['1.0.0', 400 - canary],
  ]);
  assert.equal(
    await metricValue(registry, 'pf_model_records_total', { role: 'canary', version: '1.1.0' }),
    canary,
  );
  assert.equal(
    await metricValue(registry, 'pf_model_records_total', { role: 'serving', version: '1.0.0' }),
    400 - canary,
  );
});

test('a source without a deployment gets MODEL_MISSING for its rows', async () => {
  const { label } = setup();
  const out = await label(new Map(), rows.slice(0, 2));
  assert.ok(out.every((o) => !o.ok && o.error.code === 'PF_MODEL_MISSING'));
});

test('the info gauges name the versions in force and drop the replaced ones', async () => {
  const registry = new Registry();
  const metrics = createModelMetrics(registry);
  metrics.deployed('payments', V1.info, null);
  metrics.deployed('payments', V2.info, null);
  const serving = (await registry.getSingleMetric('pf_model_serving_info')!.get()).values;
  assert.deepEqual(
    serving.map((v) => [v.labels.version, v.value]),
    [['1.1.0', 1]],
  );
});
