/**
 * Writes the `reference` block (libs/models/reference.ts: the training distribution of each
 * feature in decile bins, and of the predicted labels on the held-out set) into the manifest
 * of each given model version, WITHOUT retraining: the rows are regenerated from the seeds
 * and row counts the manifest records (the events of @patternflow/generators and the
 * features of @patternflow/sources, exactly as training/export-features.ts wrote them for the
 * trainer), and the held-out labels come from the version's own model.onnx through the
 * runtime's decision rule. model.onnx is read, never written.
 *
 * Rewriting a manifest invalidates its signature: sign it again (training/sign.ts), as
 * training/build.sh does.
 *
 *   node training/reference.ts <version-dir>...
 *   node training/reference.ts --check <version-dir>...   # exit 1 if a stored block differs
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { computeReference, type ModelManifest, STORE_FILES } from '@patternflow/models';
import { featureNames, getSourcePack, sourceNames } from '@patternflow/sources';
import { labelledRows, predictLabels } from './scoring.ts';

interface TrainingBlock {
  train_seed: number;
  test_seed: number;
  train_rows: number;
  test_rows: number;
}

function featureRows(source: string, seed: number, count: number): Float32Array[] {
  return labelledRows(source, seed, count).rows;
}

async function referenceOf(dir: string) {
  const manifestPath = join(dir, STORE_FILES.manifest);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ModelManifest & {
    training: TrainingBlock;
  };
  const modelBytes = readFileSync(join(dir, manifest.file));
  const sha256 = createHash('sha256').update(modelBytes).digest('hex');
  if (sha256 !== manifest.sha256)
    throw new Error(`${dir}: model.onnx sha256 ${sha256}, manifest says ${manifest.sha256}`);
  const expected = featureNames(manifest.source);
  if (!expected || expected.join(',') !== manifest.features.join(','))
    throw new Error(
      `${dir}: the manifest's features are not those @patternflow/sources defines for ${manifest.source}`,
    );
  // The manifest names a model key; the events come from the source whose features use it.
  const source = sourceNames().find((name) => getSourcePack(name)?.features.modelKey === manifest.source)!;
  const { train_seed, test_seed, train_rows, test_rows } = manifest.training;
  const reference = computeReference({
    features: manifest.features,
    labels: manifest.labels,
    trainRows: featureRows(source, train_seed, train_rows),
    trainSeed: train_seed,
    heldOutLabels: await predictLabels(modelBytes, manifest, featureRows(source, test_seed, test_rows)),
    heldOutSeed: test_seed,
  });
  return { manifestPath, manifest, reference };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const check = args[0] === '--check';
  const dirs = check ? args.slice(1) : args;
  if (dirs.length === 0) throw new Error('usage: reference.ts [--check] <version-dir>...');
  let differ = 0;
  for (const dir of dirs) {
    const { manifestPath, manifest, reference } = await referenceOf(dir);
    if (check) {
      const same = isDeepStrictEqual((manifest as Record<string, unknown>).reference, reference);
      console.log(`reference: ${manifestPath}: ${same ? 'matches' : 'DIFFERS from'} the recomputed block`);
      if (!same) differ++;
      continue;
    }
    writeFileSync(manifestPath, `${JSON.stringify({ ...manifest, reference }, null, 2)}\n`);
    const labels = Object.entries(reference.predicted_labels.shares).map(([l, s]) => `${l} ${s}`);
    console.log(
      `reference: ${manifestPath}: ${manifest.features.length} features; held-out predicted ${labels.join(', ')}`,
    );
  }
  if (differ > 0) process.exit(1);
}

main().catch((error) => {
  console.error(`reference: ${(error as Error).message}`);
  process.exit(1);
});
