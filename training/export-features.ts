/**
 * Writes the feature tables the trainer reads: for every source, <dir>/<source>.train.csv
 * and <dir>/<source>.test.csv (header: feature names in model order, then `label`), plus
 * <dir>/meta.json. Events come from @patternflow/generators; features from
 * @patternflow/sources' extractFeatures, the same function the runtime calls, so training
 * and serving cannot drift.
 *
 *   node training/export-features.ts <out-dir>
 */

import { once } from 'node:events';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateEvents, getSourceGenerator, toNormalizedPattern } from '@patternflow/generators';
import { extractFeatures, getSourcePack, sourceNames } from '@patternflow/sources';
import { TRAINING_PLAN } from './config.ts';

async function writeTable(
  path: string,
  source: string,
  seed: number,
  rows: number,
): Promise<Record<string, number>> {
  const pack = getSourcePack(source)!;
  const out = createWriteStream(path);
  const classCounts: Record<string, number> = {};
  out.write(`${[...pack.features.names, 'label'].join(',')}\n`);
  let chunk = '';
  for (const ev of generateEvents({ seed, count: rows, sources: [source] })) {
    const { values } = extractFeatures(toNormalizedPattern(source, ev.event));
    // Number(float32) prints the shortest decimal that parses back to the same float32 value.
    chunk += `${Array.from(values, (v) => String(v)).join(',')},${ev.label}\n`;
    classCounts[ev.label] = (classCounts[ev.label] ?? 0) + 1;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return classCounts;
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: export-features.ts <out-dir>');
  mkdirSync(dir, { recursive: true });
  const meta: Record<string, unknown> = { plan: TRAINING_PLAN, sources: {} };
  for (const source of sourceNames()) {
    const pack = getSourcePack(source)!;
    const train = await writeTable(
      join(dir, `${source}.train.csv`),
      source,
      TRAINING_PLAN.trainSeed,
      TRAINING_PLAN.trainRows,
    );
    const test = await writeTable(
      join(dir, `${source}.test.csv`),
      source,
      TRAINING_PLAN.testSeed,
      TRAINING_PLAN.testRows,
    );
    (meta.sources as Record<string, unknown>)[source] = {
      model_key: pack.features.modelKey,
      features: pack.features.names,
      labels: getSourceGenerator(source)!.labels,
      train_class_counts: train,
      test_class_counts: test,
    };
    console.log(
      `export-features: ${source}: ${TRAINING_PLAN.trainRows} train / ${TRAINING_PLAN.testRows} test rows`,
    );
  }
  writeFileSync(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
