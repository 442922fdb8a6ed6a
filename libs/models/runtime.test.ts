import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import { copyModelStore, type TestModelStore } from '@patternflow/harness';
import type { NormalizedPattern } from '@patternflow/records';
import { extractFeatures } from '@patternflow/sources';
import { Registry } from 'prom-client';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  loadModelRuntime,
  loadModelVersion,
  type ModelInfo,
  type ModelRuntime,
  type PredictionOutcome,
  readPublicKey,
} from './index.ts';

const store = DEFAULT_MODEL_STORE;
const publicKey = readPublicKey(DEV_PUBLIC_KEY_PATH);
const copies: TestModelStore[] = [];
/** prom-client fills metricName on histogram samples at run time; its types omit it. */
const nameOf = (sample: object): string | undefined => (sample as { metricName?: string }).metricName;

/** A private copy of the store (only `names`), re-signed with its own key, for tests that damage it. */
function copyOf(...names: string[]): TestModelStore {
  const copy = copyModelStore({ names });
  copies.push(copy);
  return copy;
}

/** The sources (model keys) that have a model. */
const sourcesOf = (runtime: ModelRuntime): string[] => runtime.models.map((m) => m.source).sort();

function modelFor(runtime: ModelRuntime, source: string): ModelInfo {
  const info = runtime.models.find((m) => m.source === source);
  assert.ok(info, `a model serves ${source}`);
  return info;
}

/**
 * Canonical records -> one outcome each, in order: features per record (a record error is
 * that record's outcome), then one predict call per model, as the tagger does it.
 */
async function classify(
  runtime: ModelRuntime,
  records: readonly NormalizedPattern[],
): Promise<PredictionOutcome[]> {
  const outcomes: PredictionOutcome[] = new Array(records.length);
  const groups = new Map<string, { indexes: number[]; rows: Float32Array[] }>();
  records.forEach((record, i) => {
    try {
      const { modelKey, values } = extractFeatures(record);
      const group = groups.get(modelKey) ?? { indexes: [], rows: [] };
      groups.set(modelKey, group);
      group.indexes.push(i);
      group.rows.push(values);
    } catch (err) {
      if (!(err instanceof PipelineError)) throw err;
      outcomes[i] = { ok: false, error: err };
    }
  });
  for (const [modelKey, group] of groups) {
    const results = await runtime.predict(modelKey, group.rows);
    group.indexes.forEach((recordIndex, j) => {
      outcomes[recordIndex] = results[j]!;
    });
  }
  return outcomes;
}

after(() => {
  for (const copy of copies) copy.remove();
});

describe('loading', () => {
  test('loads the serving version of each source and says which source each serves', async () => {
    const runtime = await loadModelRuntime({ store, publicKey });
    try {
      assert.deepEqual(sourcesOf(runtime), ['auth', 'netflow', 'payments']);
      for (const source of sourcesOf(runtime)) {
        const info = modelFor(runtime, source);
        assert.equal(info.source, source);
        assert.match(info.version, /^\d+\.\d+\.\d+$/);
        assert.match(info.sha256, /^[0-9a-f]{64}$/);
        assert.ok(
          info.sizeBytes > 10_000 && info.sizeBytes < 3_500_000,
          `${info.name} size ${info.sizeBytes}`,
        );
      }
      assert.equal(runtime.hasModel('smtp'), false);
      assert.ok(runtime.store.every((entry) => entry.verified));
    } finally {
      await runtime.close();
    }
  });

  test('the highest version of a source serves; a pin serves an older one', async () => {
    const copy = copyOf('payments-fraud-rf');
    copy.addVersion('payments-fraud-rf', '1.0.0', '1.10.0');
    copy.addVersion('payments-fraud-rf', '1.0.0', '1.9.0');
    const key = copy.key.publicKey;
    const latest = await loadModelRuntime({ store: copy.dir, publicKey: key });
    assert.equal(modelFor(latest, 'payments').version, '1.10.0');
    await latest.close();
    const pinned = await loadModelRuntime({
      store: copy.dir,
      publicKey: key,
      pins: [{ name: 'payments-fraud-rf', version: '1.0.0' }],
    });
    assert.equal(modelFor(pinned, 'payments').version, '1.0.0');
    await pinned.close();
    await assert.rejects(
      loadModelRuntime({
        store: copy.dir,
        publicKey: key,
        pins: [{ name: 'payments-fraud-rf', version: '2.0.0' }],
      }),
      (err: unknown) =>
        err instanceof PipelineError &&
        err.code === ErrorCodes.CONFIG_INVALID &&
        /not in the store/.test(err.message),
    );
  });

  test('a damaged newest version stops the load; it never falls back to an older version', async () => {
    const copy = copyOf('payments-fraud-rf');
    copy.addVersion('payments-fraud-rf', '1.0.0', '1.1.0');
    const onnx = copy.flipModelByte('payments-fraud-rf', '1.1.0');
    await assert.rejects(
      loadModelRuntime({ store: copy.dir, publicKey: copy.key.publicKey }),
      (err: unknown) => {
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, ErrorCodes.MODEL_INTEGRITY);
        assert.equal(err.details.file, onnx);
        assert.ok(err.message.includes(onnx));
        return true;
      },
    );
  });

  test('a damaged version that does not serve is listed as refused and the rest loads', async () => {
    const copy = copyOf('payments-fraud-rf');
    copy.addVersion('payments-fraud-rf', '1.0.0', '0.9.0');
    copy.flipModelByte('payments-fraud-rf', '0.9.0');
    const runtime = await loadModelRuntime({ store: copy.dir, publicKey: copy.key.publicKey });
    try {
      assert.equal(modelFor(runtime, 'payments').version, '1.0.0');
      const old = runtime.store.find((e) => e.version === '0.9.0');
      assert.equal(old?.verified, false);
      assert.equal(old?.problem?.code, ErrorCodes.MODEL_INTEGRITY);
    } finally {
      await runtime.close();
    }
  });

  test('loadModelVersion returns a verified, ready session and its manifest', async () => {
    const model = await loadModelVersion(store, 'auth-ato-rf', '1.0.0', publicKey);
    try {
      assert.equal(model.manifest.name, 'auth-ato-rf');
      assert.equal(model.info.source, 'auth');
      assert.ok(model.session.inputNames.includes(model.manifest.input_name));
    } finally {
      await model.release();
    }
  });

  test('refuses a model trained on another feature order than the sources define (signed manifest)', async () => {
    const copy = copyOf('auth-ato-rf');
    copy.editManifest('auth-ato-rf', '1.0.0', (m) => {
      m.features = [...(m.features as string[])].reverse();
    });
    await assert.rejects(
      loadModelRuntime({ store: copy.dir, publicKey: copy.key.publicKey }),
      (err: unknown) => {
        assert.ok(err instanceof PipelineError);
        assert.equal(err.code, ErrorCodes.MODEL_LOAD);
        assert.match(err.message, /feature order/);
        return true;
      },
    );
  });

  test('refuses a signed manifest whose labels do not match the model outputs', async () => {
    const copy = copyOf('netflow-attack-rf');
    copy.editManifest('netflow-attack-rf', '1.0.0', (m) => {
      m.labels = (m.labels as string[]).slice(0, 3);
    });
    await assert.rejects(
      loadModelRuntime({ store: copy.dir, publicKey: copy.key.publicKey }),
      (err: unknown) =>
        err instanceof PipelineError && err.code === ErrorCodes.MODEL_LOAD && /3 labels/.test(err.message),
    );
  });

  test('an unreadable store is MODEL_LOAD', async () => {
    await assert.rejects(
      loadModelRuntime({ store: '/nonexistent/pf-no-such-store-4711', publicKey }),
      (err: unknown) => err instanceof PipelineError && err.code === ErrorCodes.MODEL_LOAD,
    );
  });
});

describe('inference', () => {
  let runtime: ModelRuntime;
  let registry: Registry;
  before(async () => {
    registry = new Registry();
    runtime = await loadModelRuntime({ store, publicKey, registry });
  });
  after(async () => {
    await runtime.close();
  });

  test('features + predict: one outcome per record, in order, for a mix of sources in one call', async () => {
    const events = [...generateEvents({ seed: 99, count: 300 })];
    const records = events.map((e) => toNormalizedPattern(e.source, e.event));
    const outcomes = await classify(runtime, records);
    assert.equal(outcomes.length, records.length);
    let correct = 0;
    outcomes.forEach((o, i) => {
      assert.ok(o.ok, `record ${i}`);
      const info = modelFor(runtime, records[i]!.source);
      assert.equal(o.prediction.modelName, info.name);
      assert.equal(o.prediction.modelVersion, info.version);
      assert.equal(o.prediction.modelSha256, info.sha256);
      assert.ok(info.labels.includes(o.prediction.label));
      const total = Object.values(o.prediction.scores).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-4);
      if (o.prediction.label === events[i]!.label) correct++;
    });
    assert.ok(correct / records.length > 0.9, `accuracy ${correct / records.length}`);
  });

  test('one bad record does not fail its batch', async () => {
    const events = [...generateEvents({ seed: 5, count: 6, sources: ['netflow'] })];
    const records = events.map((e) => toNormalizedPattern(e.source, e.event));
    const { 'bytes.to_dst': _, ...attributes } = records[2]!.attributes;
    records[2] = { ...records[2]!, attributes };
    records[4] = { ...records[4]!, source: 'smtp' };
    const outcomes = await classify(runtime, records);
    assert.deepEqual(
      outcomes.map((o) => (o.ok ? 'ok' : o.error.code)),
      ['ok', 'ok', ErrorCodes.INVALID_FEATURES, 'ok', ErrorCodes.UNKNOWN_SOURCE, 'ok'],
    );
    const bad = outcomes[2]!;
    assert.ok(!bad.ok && /bytes\.to_dst/.test(bad.error.message));
  });

  test('predict: wrong length and non-finite rows are INVALID_FEATURES per row; the rest are classified', async () => {
    const info = modelFor(runtime, 'auth');
    const good = new Float32Array(info.features.length);
    const nan = new Float32Array(info.features.length);
    nan[3] = Number.NaN;
    const short = new Float32Array(info.features.length - 1);
    const outcomes = await runtime.predict('auth', [good, nan, short, good]);
    assert.deepEqual(
      outcomes.map((o) => (o.ok ? 'ok' : o.error.code)),
      ['ok', ErrorCodes.INVALID_FEATURES, ErrorCodes.INVALID_FEATURES, 'ok'],
    );
    const [, nanOutcome, shortOutcome] = outcomes;
    assert.ok(!nanOutcome!.ok && nanOutcome!.error.message.includes(`"${info.features[3]}"`));
    assert.ok(!shortOutcome!.ok && /got \d+ features, the model takes \d+/.test(shortOutcome!.error.message));
  });

  test('predict for a source without a model: MODEL_MISSING per row', async () => {
    const outcomes = await runtime.predict('smtp', [new Float32Array(3), new Float32Array(3)]);
    assert.equal(outcomes.length, 2);
    for (const o of outcomes) assert.ok(!o.ok && o.error.code === ErrorCodes.MODEL_MISSING);
  });

  test('a batch is one session.run: the metrics count one observation of its size', async () => {
    const before = await registry.getSingleMetric('pf_inference_batch_size')!.get();
    const countFor = (m: typeof before, model: string): number =>
      m.values.find((v) => nameOf(v) === 'pf_inference_batch_size_count' && v.labels.model === model)
        ?.value ?? 0;
    const sumFor = (m: typeof before, model: string): number =>
      m.values.find((v) => nameOf(v) === 'pf_inference_batch_size_sum' && v.labels.model === model)?.value ??
      0;
    const name = modelFor(runtime, 'payments').name;
    const records = [...generateEvents({ seed: 6, count: 200, sources: ['payments'] })].map((e) =>
      toNormalizedPattern(e.source, e.event),
    );
    await classify(runtime, records);
    const afterMetric = await registry.getSingleMetric('pf_inference_batch_size')!.get();
    assert.equal(countFor(afterMetric, name) - countFor(before, name), 1);
    assert.equal(sumFor(afterMetric, name) - sumFor(before, name), 200);
    const seconds = await registry.getSingleMetric('pf_inference_seconds')!.get();
    assert.ok(
      seconds.values.some((v) => nameOf(v) === 'pf_inference_seconds_count' && v.labels.model === name),
    );
  });

  test('batches above maxBatchRows are split into several runs with the same results', async () => {
    const small = await loadModelRuntime({ store, publicKey, maxBatchRows: 7 });
    try {
      const records = [...generateEvents({ seed: 7, count: 50, sources: ['netflow'] })].map((e) =>
        toNormalizedPattern(e.source, e.event),
      );
      const [a, b] = [await classify(small, records), await classify(runtime, records)];
      assert.deepEqual(a, b);
    } finally {
      await small.close();
    }
  });
});
