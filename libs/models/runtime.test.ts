import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import type { NormalizedPattern } from '@patternflow/records';
import { extractFeatures } from '@patternflow/sources';
import { Registry } from 'prom-client';
import { loadModelRuntime, type ModelInfo, type ModelRuntime, type PredictionOutcome } from './index.ts';

const modelsDir = fileURLToPath(new URL('../../models', import.meta.url));
const tempDirs: string[] = [];
/** prom-client fills metricName on histogram samples at run time; its types omit it. */
const nameOf = (sample: object): string | undefined => (sample as { metricName?: string }).metricName;

/** A private copy of one source's model directory, for tests that damage it. */
function copyModel(source: string): { dir: string; manifestPath: string; onnxPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pf-models-'));
  tempDirs.push(dir);
  cpSync(join(modelsDir, source), join(dir, source), { recursive: true });
  const manifestPath = join(dir, source, readdirManifest(join(dir, source)));
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { file: string };
  return { dir, manifestPath, onnxPath: join(dir, source, manifest.file) };
}

function readdirManifest(dir: string): string {
  const name = readdirSync(dir).find((f) => f.endsWith('.manifest.json'));
  assert.ok(name, `a manifest in ${dir}`);
  return name;
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
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('loading', () => {
  test('loads one model per source and says which source each serves', async () => {
    const runtime = await loadModelRuntime({ modelsDir });
    try {
      assert.deepEqual(sourcesOf(runtime), ['auth', 'netflow', 'payments']);
      for (const source of sourcesOf(runtime)) {
        const info = modelFor(runtime, source);
        assert.equal(info.source, source);
        assert.match(info.version, /^\d+\.\d+\.\d+$/);
        assert.ok(
          info.sizeBytes > 10_000 && info.sizeBytes < 3_500_000,
          `${info.name} size ${info.sizeBytes}`,
        );
      }
      assert.equal(runtime.hasModel('smtp'), false);
      assert.equal(
        runtime.models.some((m) => m.source === 'smtp'),
        false,
      );
    } finally {
      await runtime.close();
    }
  });

  test('refuses a model whose bytes do not match its manifest (one flipped byte)', async () => {
    const { dir, onnxPath, manifestPath } = copyModel('payments');
    const bytes = readFileSync(onnxPath);
    const expected = (JSON.parse(readFileSync(manifestPath, 'utf8')) as { sha256: string }).sha256;
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(onnxPath, bytes);
    await assert.rejects(loadModelRuntime({ modelsDir: dir }), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, ErrorCodes.MODEL_INTEGRITY);
      assert.equal(err.details.file, onnxPath);
      assert.equal(err.details.expected, expected);
      assert.match(String(err.details.actual), /^[0-9a-f]{64}$/);
      assert.notEqual(err.details.actual, expected);
      assert.ok(err.message.includes(onnxPath) && err.message.includes(expected));
      return true;
    });
  });

  test('the untampered copy loads (the refusal above is about the flipped byte)', async () => {
    const { dir } = copyModel('payments');
    const runtime = await loadModelRuntime({ modelsDir: dir });
    assert.deepEqual(sourcesOf(runtime), ['payments']);
    await runtime.close();
  });

  test('refuses a model trained on another feature order than the sources define', async () => {
    const { dir, manifestPath } = copyModel('auth');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { features: string[] };
    manifest.features = [...manifest.features].reverse();
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(loadModelRuntime({ modelsDir: dir }), (err: unknown) => {
      assert.ok(err instanceof PipelineError);
      assert.equal(err.code, ErrorCodes.MODEL_LOAD);
      assert.match(err.message, /feature order/);
      return true;
    });
  });

  test('refuses a manifest whose labels do not match the model outputs', async () => {
    const { dir, manifestPath } = copyModel('netflow');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { labels: string[] };
    manifest.labels = manifest.labels.slice(0, 3);
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(
      loadModelRuntime({ modelsDir: dir }),
      (err: unknown) =>
        err instanceof PipelineError && err.code === ErrorCodes.MODEL_LOAD && /3 labels/.test(err.message),
    );
  });

  test('an unreadable models directory is MODEL_LOAD', async () => {
    await assert.rejects(
      loadModelRuntime({ modelsDir: join(tmpdir(), 'pf-no-such-dir-4711') }),
      (err: unknown) => err instanceof PipelineError && err.code === ErrorCodes.MODEL_LOAD,
    );
  });
});

describe('inference', () => {
  let runtime: ModelRuntime;
  let registry: Registry;
  before(async () => {
    registry = new Registry();
    runtime = await loadModelRuntime({ modelsDir, registry });
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
    const small = await loadModelRuntime({ modelsDir, maxBatchRows: 7 });
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
