/**
 * The runtime reproduces the trainer's own predictions on each model's golden rows
 * (same labels, probabilities within 1e-4), in one micro-batch and row by row.
 * training/build.sh runs this file against freshly trained models (PF_MODELS_DIR)
 * before it replaces models/.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadModelRuntime, type ModelRuntime } from './index.ts';

const modelsDir = process.env.PF_MODELS_DIR ?? fileURLToPath(new URL('../../models', import.meta.url));

interface Golden {
  model: string;
  version: string;
  rows: { features: number[]; label: string; probabilities: Record<string, number> }[];
}

const goldenFiles = readdirSync(modelsDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    readdirSync(join(modelsDir, d.name))
      .filter((f) => f.endsWith('.golden.json'))
      .map((f) => join(modelsDir, d.name, f)),
  );

describe('golden predictions', () => {
  let runtime: ModelRuntime;
  before(async () => {
    runtime = await loadModelRuntime({ modelsDir });
  });
  after(async () => {
    await runtime.close();
  });

  test('every model has a golden file and every golden file a model', () => {
    assert.ok(goldenFiles.length >= 3, `expected golden files for 3+ models in ${modelsDir}`);
    assert.equal(goldenFiles.length, runtime.models.length);
  });

  for (const file of goldenFiles) {
    const golden = JSON.parse(readFileSync(file, 'utf8')) as Golden;
    test(`${golden.model} ${golden.version}: labels equal, probabilities within 1e-4`, async () => {
      const info = runtime.models.find((m) => m.name === golden.model);
      assert.ok(info, `model ${golden.model} is loaded`);
      assert.equal(info.version, golden.version);
      assert.ok(golden.rows.length >= 20);
      const rows = golden.rows.map((r) => Float32Array.from(r.features));
      const batched = await runtime.predict(info.source, rows);
      const single = await Promise.all(rows.map((row) => runtime.predict(info.source, [row])));
      golden.rows.forEach((expected, i) => {
        for (const outcome of [batched[i]!, single[i]![0]!]) {
          assert.ok(outcome.ok, `row ${i} predicted`);
          const p = outcome.prediction;
          assert.equal(p.label, expected.label, `row ${i} label`);
          assert.equal(p.modelName, golden.model);
          for (const [label, prob] of Object.entries(expected.probabilities)) {
            const got = p.scores[label];
            assert.ok(
              got !== undefined && Math.abs(got - prob) <= 1e-4,
              `row ${i} p(${label}) ${got} vs ${prob}`,
            );
          }
          assert.equal(p.score, p.scores[p.label]);
        }
      });
      // the golden sample covers every class the model can output
      assert.deepEqual(new Set(golden.rows.map((r) => r.label)), new Set(info.labels));
    });
  }
});
