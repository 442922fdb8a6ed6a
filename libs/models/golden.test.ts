/**
 * The runtime reproduces the trainer's own predictions on the golden rows of every version
 * in the store (same labels, probabilities within 1e-4), in one micro-batch and row by row.
 * training/build.sh runs this file against freshly trained, signed models (PF_MODELS_DIR,
 * PF_MODEL_PUBLIC_KEY) before it adds them to models/.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  listModelVersions,
  loadModelRuntime,
  type ModelRuntime,
  readPublicKey,
  STORE_FILES,
} from './index.ts';

const store = process.env.PF_MODELS_DIR ?? DEFAULT_MODEL_STORE;
const publicKey = readPublicKey(process.env.PF_MODEL_PUBLIC_KEY ?? DEV_PUBLIC_KEY_PATH);

interface Golden {
  model: string;
  version: string;
  rows: { features: number[]; label: string; probabilities: Record<string, number> }[];
}

const versions = await listModelVersions(store, publicKey);

describe('golden predictions', () => {
  test('every version in the store verifies and has a golden file', () => {
    assert.ok(versions.length >= 3, `expected 3+ model versions in ${store}`);
    for (const v of versions) {
      assert.equal(v.verified, true, `${v.name}@${v.version}: ${v.problem?.message}`);
      assert.ok(existsSync(join(v.dir, STORE_FILES.golden)), `${v.dir} has ${STORE_FILES.golden}`);
    }
  });

  for (const v of versions) {
    describe(`${v.name} ${v.version}`, () => {
      let runtime: ModelRuntime;
      before(async () => {
        // This version alone serves its source, whatever else the store holds.
        runtime = await loadModelRuntime({ store, publicKey, pins: [{ name: v.name, version: v.version }] });
      });
      after(async () => {
        await runtime.close();
      });

      test('labels equal, probabilities within 1e-4', async () => {
        const golden = JSON.parse(readFileSync(join(v.dir, STORE_FILES.golden), 'utf8')) as Golden;
        assert.equal(golden.model, v.name);
        assert.equal(golden.version, v.version);
        const info = runtime.models.find((m) => m.name === v.name);
        assert.ok(info, `model ${v.name} is loaded`);
        assert.equal(info.version, v.version);
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
            assert.equal(p.modelSha256, info.sha256);
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
    });
  }
});
