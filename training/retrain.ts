/**
 * Retrains one source's model from the original training set plus labelled feedback, and
 * writes a new signed version with its evaluation against the serving version. The
 * ML half of `patternflow model retrain` (cli/src/commands/model-retrain.ts), which harvests
 * the feedback from PostgreSQL, recomputes its features with @patternflow/sources, and
 * registers the result as a shadow candidate. This script never touches Kafka or PostgreSQL.
 *
 *   node training/retrain.ts --serving <version-dir> --feedback <file.json> --store <dir>
 *     --version X.Y.Z --result <file.json> [--reason TEXT] [--train-rows N] [--test-rows N]
 *     [--eval-rows N] [--feedback-weight W] [--held-out-share S] [--dry-run]
 *
 * --feedback is `{ harvest: {...}, rows: [{ id, label, features: number[] }] }`.
 * Steps: split the feedback by a hash of each id (held out for evaluation, or trained on);
 * regenerate the original training and test sets from the serving manifest's seeds
 * (training/export-features.ts's code path); train.py on both plus the feedback rows
 * (sample weight W, generated rows 1); evaluate the serving and the new model on the same
 * held-out data (the evaluate.ts seed set and the held-out feedback); the reference block,
 * the signature (PF_MODEL_SIGNING_KEY, else the repo's DEV key, said on stderr), a golden
 * check through the TypeScript runtime; then the version is copied into the store (not
 * with --dry-run). An existing version is never overwritten.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  listModelVersions,
  loadModelRuntime,
  type ModelManifest,
  readPublicKey,
  STORE_FILES,
} from '@patternflow/models';
import { getSourcePack, sourceNames } from '@patternflow/sources';
import { TRAINING_PLAN } from './config.ts';
import { classMetrics, labelledRows, predictLabels } from './scoring.ts';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const DEV_SIGNING_KEY = join(ROOT, 'training', 'dev-keys', 'DEV-ONLY-model-signing.pem');

export interface FeedbackRow {
  id: string;
  label: string;
  features: number[];
}

interface ServingManifest extends ModelManifest {
  training: { train_seed: number; test_seed: number; train_rows: number; test_rows: number };
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * Held out when the first 4 bytes of sha256(id), over 2^32, fall below the share: stable per
 * id, so a later retrain with the same share holds out the same ids and never trains on
 * what an earlier evaluation measured.
 */
export function isHeldOut(id: string, share: number): boolean {
  return createHash('sha256').update(id).digest().readUInt32BE(0) / 2 ** 32 < share;
}

function csvTable(
  features: readonly string[],
  rows: readonly { x: ArrayLike<number>; y: string; w: number }[],
) {
  const lines = [`${[...features, 'label', 'weight'].join(',')}`];
  // Number(float32) prints the shortest decimal that parses back to the same float32 value.
  for (const r of rows) lines.push(`${Array.from(r.x, (v) => String(v)).join(',')},${r.y},${r.w}`);
  return `${lines.join('\n')}\n`;
}

const countLabels = (labels: readonly string[]) =>
  labels.reduce<Record<string, number>>((c, l) => {
    c[l] = (c[l] ?? 0) + 1;
    return c;
  }, {});

function step<T>(timings: Record<string, number>, name: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  timings[name] = Math.round(performance.now() - started) / 1000;
  return result;
}
async function stepAsync<T>(
  timings: Record<string, number>,
  name: string,
  work: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  const result = await work();
  timings[name] = Math.round(performance.now() - started) / 1000;
  return result;
}

function positive(name: string, raw: string | undefined, fallback: number, integer = true): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return value;
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      serving: { type: 'string' },
      feedback: { type: 'string' },
      store: { type: 'string' },
      version: { type: 'string' },
      result: { type: 'string' },
      reason: { type: 'string', default: '' },
      'train-rows': { type: 'string' },
      'test-rows': { type: 'string' },
      'eval-rows': { type: 'string' },
      'feedback-weight': { type: 'string' },
      'held-out-share': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  for (const required of ['serving', 'feedback', 'store', 'version', 'result'] as const) {
    if (!args[required])
      throw new Error(`--${required} is required (see the usage at the top of retrain.ts)`);
  }
  const started = performance.now();
  const timings: Record<string, number> = {};
  const servingDir = resolve(args.serving!);
  const store = resolve(args.store!);
  const version = args.version!;
  if (!/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.test(version))
    throw new Error(`--version must be major.minor.patch, got "${version}"`);

  const serving = JSON.parse(readFileSync(join(servingDir, STORE_FILES.manifest), 'utf8')) as ServingManifest;
  const servingBytes = readFileSync(join(servingDir, serving.file));
  if (sha256(servingBytes) !== serving.sha256)
    throw new Error(`${servingDir}: model.onnx does not hash to the manifest's sha256`);
  const target = join(store, serving.name, version);
  if (existsSync(target))
    throw new Error(`${target} exists: versions are immutable, choose another --version`);
  const source = sourceNames().find((s) => getSourcePack(s)?.features.modelKey === serving.source);
  if (!source) throw new Error(`no source of @patternflow/sources uses the model key ${serving.source}`);

  const trainRows = positive('train-rows', args['train-rows'], serving.training.train_rows);
  const testRows = positive('test-rows', args['test-rows'], serving.training.test_rows);
  const evalRows = positive('eval-rows', args['eval-rows'], TRAINING_PLAN.evalRows);
  const weight = positive('feedback-weight', args['feedback-weight'], 1, false);
  const heldOutShare = positive('held-out-share', args['held-out-share'], 0.2, false);
  if (heldOutShare >= 1) throw new Error('--held-out-share must be below 1');

  const input = JSON.parse(readFileSync(args.feedback!, 'utf8')) as {
    harvest: Record<string, unknown>;
    rows: FeedbackRow[];
  };
  for (const row of input.rows) {
    if (!serving.labels.includes(row.label))
      throw new Error(`feedback ${row.id}: label "${row.label}" is not one of ${serving.labels.join(', ')}`);
    if (row.features.length !== serving.features.length)
      throw new Error(
        `feedback ${row.id}: ${row.features.length} features, the model takes ${serving.features.length}`,
      );
  }
  const heldOut = input.rows.filter((r) => isHeldOut(r.id, heldOutShare));
  const trained = input.rows.filter((r) => !isHeldOut(r.id, heldOutShare));

  const work = mkdtempSync(join(tmpdir(), 'pf-retrain-'));
  try {
    // 1. The original sets, regenerated from the serving manifest's seeds, plus the feedback.
    const data = join(work, 'data');
    mkdirSync(data);
    const { trainSet, testSet } = step(timings, 'export_seconds', () => {
      const trainSet = labelledRows(source, serving.training.train_seed, trainRows);
      const testSet = labelledRows(source, serving.training.test_seed, testRows);
      writeFileSync(
        join(data, `${source}.train.csv`),
        csvTable(serving.features, [
          ...trainSet.rows.map((x, i) => ({ x, y: trainSet.labels[i]!, w: 1 })),
          ...trained.map((r) => ({ x: Float32Array.from(r.features), y: r.label, w: weight })),
        ]),
      );
      writeFileSync(
        join(data, `${source}.test.csv`),
        csvTable(
          serving.features,
          testSet.rows.map((x, i) => ({ x, y: testSet.labels[i]!, w: 1 })),
        ),
      );
      return { trainSet, testSet };
    });
    writeFileSync(
      join(data, 'meta.json'),
      JSON.stringify({
        plan: { trainSeed: serving.training.train_seed, testSeed: serving.training.test_seed },
        sources: {
          [source]: {
            model_key: serving.source,
            features: serving.features,
            labels: serving.labels,
            train_class_counts: countLabels(trainSet.labels),
            test_class_counts: countLabels(testSet.labels),
          },
        },
      }),
    );

    // 2. train.py, in the venv of training/requirements.txt.
    const models = join(work, 'models');
    const python = execFileSync('bash', [join(ROOT, 'training', 'venv.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    step(timings, 'train_seconds', () =>
      execFileSync(python, [join(ROOT, 'training', 'train.py'), data, models, '--version', version], {
        // Single-threaded BLAS/OpenMP: the same bytes on every machine (as build.sh).
        env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
        stdio: ['ignore', 'inherit', 'inherit'],
      }),
    );
    const dir = join(models, serving.name, version);
    const manifestPath = join(dir, STORE_FILES.manifest);
    const fresh = JSON.parse(readFileSync(manifestPath, 'utf8')) as ServingManifest & Record<string, unknown>;
    if (fresh.name !== serving.name || fresh.source !== serving.source)
      throw new Error(`train.py wrote ${fresh.name} for ${fresh.source}, expected ${serving.name}`);
    const freshBytes = readFileSync(join(dir, fresh.file));

    // 3. Both versions on the same held-out data: the evaluate.ts seed set and the held-out feedback.
    const evaluation = await stepAsync(timings, 'evaluate_seconds', async () => {
      const evalSet = labelledRows(source, TRAINING_PLAN.evalSeed, evalRows);
      const feedbackRows = heldOut.map((r) => Float32Array.from(r.features));
      const feedbackTruth = heldOut.map((r) => r.label);
      const score = async (bytes: Uint8Array, manifest: ModelManifest) => ({
        generated: classMetrics(
          evalSet.labels,
          await predictLabels(bytes, manifest, evalSet.rows),
          manifest.labels,
        ),
        feedback_held_out: classMetrics(
          feedbackTruth,
          await predictLabels(bytes, manifest, feedbackRows),
          manifest.labels,
        ),
      });
      return {
        method:
          'precision/recall/F1 per class and macro-F1 through onnxruntime-node and the manifest thresholds, for both versions on the same two sets',
        sets: {
          generated: { seed: TRAINING_PLAN.evalSeed, rows: evalRows },
          feedback_held_out: {
            rows: heldOut.length,
            ids_sha256: sha256(
              heldOut
                .map((r) => r.id)
                .sort()
                .join('\n'),
            ),
          },
        },
        serving: {
          version: serving.version,
          sha256: serving.sha256,
          ...(await score(servingBytes, serving)),
        },
        candidate: { version, sha256: fresh.sha256, ...(await score(freshBytes, fresh)) },
      };
    });

    // 4. The manifest says what it was trained on and how it compares; written before signing.
    const manifest = {
      ...fresh,
      training: {
        ...fresh.training,
        // The generated rows only: training/reference.ts regenerates exactly these from the seed.
        train_rows: trainRows,
        feedback_rows: trained.length,
        feedback_weight: weight,
      },
      retraining: {
        from: { name: serving.name, version: serving.version, sha256: serving.sha256 },
        reason: args.reason,
        harvest: input.harvest,
        split: `held out when sha256(id)[0..4] / 2^32 < ${heldOutShare}`,
        held_out_share: heldOutShare,
        feedback_train_class_counts: countLabels(trained.map((r) => r.label)),
        feedback_held_out_class_counts: countLabels(heldOut.map((r) => r.label)),
        feedback_train_ids: trained.map((r) => r.id).sort(),
        feedback_held_out_ids: heldOut.map((r) => r.id).sort(),
      },
      evaluation,
    };
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

    // 5. Reference block, signature, golden check (as build.sh).
    let signingKey = process.env.PF_MODEL_SIGNING_KEY;
    if (!signingKey) {
      console.error(
        `retrain: PF_MODEL_SIGNING_KEY is not set: signing with the repo's DEV key (${DEV_SIGNING_KEY}), which only the DEV public key trusts`,
      );
      signingKey = DEV_SIGNING_KEY;
    }
    const env = { ...process.env, PF_MODEL_SIGNING_KEY: signingKey };
    step(timings, 'reference_sign_seconds', () => {
      execFileSync(process.execPath, [join(ROOT, 'training', 'reference.ts'), dir], {
        env,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      execFileSync(process.execPath, [join(ROOT, 'training', 'sign.ts'), dir], {
        env,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    });
    const publicPem = execFileSync(process.execPath, [join(ROOT, 'training', 'sign.ts'), 'public-key'], {
      env,
    });
    const publicKeyPath = join(work, 'signing.pub.pem');
    writeFileSync(publicKeyPath, publicPem);
    await stepAsync(timings, 'golden_seconds', () =>
      goldenCheck(models, publicKeyPath, serving.name, version),
    );

    // 6. Into the store, unless a dry run.
    if (!args['dry-run']) {
      if (existsSync(target)) throw new Error(`${target} appeared meanwhile: versions are immutable`);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(dir, target, { recursive: true, errorOnExist: true, force: false });
    }
    const signed = JSON.parse(readFileSync(join(dir, STORE_FILES.manifest), 'utf8')) as ModelManifest;
    timings.total_seconds = Math.round(performance.now() - started) / 1000;
    writeFileSync(
      args.result!,
      `${JSON.stringify(
        {
          name: serving.name,
          version,
          source,
          sha256: signed.sha256,
          dir: args['dry-run'] ? null : target,
          written: !args['dry-run'],
          feedback: { trained: trained.length, held_out: heldOut.length, weight },
          train_rows: trainRows,
          evaluation,
          timings,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The runtime (onnxruntime-node, signature verified) reproduces train.py's golden predictions. */
async function goldenCheck(
  store: string,
  publicKeyPath: string,
  name: string,
  version: string,
): Promise<void> {
  const publicKey = readPublicKey(publicKeyPath);
  const [entry] = await listModelVersions(store, publicKey);
  if (!entry?.verified) throw new Error(`the new version does not verify: ${entry?.problem?.message}`);
  const runtime = await loadModelRuntime({ store, publicKey, pins: [{ name, version }] });
  try {
    const golden = JSON.parse(readFileSync(join(entry.dir, STORE_FILES.golden), 'utf8')) as {
      rows: { features: number[]; label: string; probabilities: Record<string, number> }[];
    };
    const source = runtime.models.find((m) => m.name === name)!.source;
    const outcomes = await runtime.predict(
      source,
      golden.rows.map((r) => Float32Array.from(r.features)),
    );
    outcomes.forEach((outcome, i) => {
      const want = golden.rows[i]!;
      if (!outcome.ok) throw outcome.error;
      if (outcome.prediction.label !== want.label)
        throw new Error(
          `golden row ${i}: the runtime says ${outcome.prediction.label}, train.py said ${want.label}`,
        );
      for (const [label, p] of Object.entries(want.probabilities)) {
        const got = outcome.prediction.scores[label] ?? Number.NaN;
        if (!(Math.abs(got - p) <= 1e-4))
          throw new Error(`golden row ${i}: P(${label}) ${got} in the runtime, ${p} in train.py`);
      }
    });
  } finally {
    await runtime.close();
  }
}

main().catch((error) => {
  console.error(`retrain: ${(error as Error).message}`);
  process.exit(1);
});
