/**
 * The model runtime: loads every manifest + ONNX model under a directory, verifies each
 * model's sha256 before the bytes reach onnxruntime, and classifies micro-batches with one
 * session.run per model per batch. One bad record never fails its batch: features are
 * validated per row before batching and the caller gets one outcome per input.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { featureNames } from '@patternflow/sources';
import * as ort from 'onnxruntime-node';
import { Histogram, type Registry } from 'prom-client';
import { decideLabel } from './decision.ts';
import { type ModelManifest, parseManifest } from './manifest.ts';

export interface Prediction {
  label: string;
  /** Probability of `label`. */
  score: number;
  scores: Record<string, number>;
  modelName: string;
  modelVersion: string;
}

export type PredictionOutcome = { ok: true; prediction: Prediction } | { ok: false; error: PipelineError };

export interface ModelInfo {
  name: string;
  version: string;
  /** The model key (source) the model serves. */
  source: string;
  features: readonly string[];
  labels: readonly string[];
  thresholds: Readonly<Record<string, number>>;
  sha256: string;
  /** Absolute path of the verified .onnx file. */
  file: string;
  sizeBytes: number;
}

export interface ModelRuntimeOptions {
  modelsDir: string;
  /** When given, pf_inference_seconds{model} and pf_inference_batch_size{model} are registered here. */
  registry?: Registry;
  /** onnxruntime intra-op threads per session (default 1; see docs/models.md). */
  intraOpThreads?: number;
  /** Larger batches are split into runs of at most this many rows (default 1024). */
  maxBatchRows?: number;
}

export interface ModelRuntime {
  /** Every loaded model, one per source (model key). */
  readonly models: readonly ModelInfo[];
  hasModel(source: string): boolean;
  /**
   * Classifies feature vectors for one model key: one outcome per row, in order. A row of the
   * wrong length or with a non-finite value gets INVALID_FEATURES; an unknown key gets
   * MODEL_MISSING for every row. Valid rows share one session.run.
   */
  predict(source: string, rows: readonly Float32Array[]): Promise<PredictionOutcome[]>;
  /** Releases the onnxruntime sessions. */
  close(): Promise<void>;
}

interface LoadedModel {
  info: ModelInfo;
  manifest: ModelManifest;
  session: ort.InferenceSession;
}

/**
 * Session options, chosen for a tree-ensemble classifier behind a Kafka consumer (the
 * reasons are in docs/models.md): one intra-op thread by default (the graph is a single
 * TreeEnsemble node; the pipeline's parallelism is partitions × processes), sequential
 * execution (no independent branches to overlap), full graph optimisation (one-off cost
 * at load), and the CPU arena kept so repeated micro-batches reuse their buffers.
 */
function sessionOptions(intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function manifestPaths(modelsDir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(modelsDir, { withFileTypes: true });
  } catch (err) {
    throw new PipelineError(ErrorCodes.MODEL_LOAD, `models directory ${modelsDir} cannot be read`, {
      cause: err,
      details: { modelsDir },
    });
  }
  const paths: string[] = [];
  for (const entry of entries) {
    if (entry.isFile() && entry.name.endsWith('.manifest.json')) paths.push(join(modelsDir, entry.name));
    if (entry.isDirectory()) {
      const sub = join(modelsDir, entry.name);
      for (const name of await readdir(sub)) if (name.endsWith('.manifest.json')) paths.push(join(sub, name));
    }
  }
  return paths.sort();
}

/** Numeric comparison of dotted versions ("1.10.0" > "1.9.2"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

async function loadOne(
  manifestPath: string,
  options: ort.InferenceSession.SessionOptions,
): Promise<LoadedModel> {
  const manifest = parseManifest(manifestPath, await readFile(manifestPath, 'utf8'));
  const file = join(manifestPath, '..', manifest.file);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new PipelineError(ErrorCodes.MODEL_LOAD, `model file ${file} of ${manifest.name} cannot be read`, {
      cause: err,
      details: { file, manifest: manifestPath },
    });
  }
  // Hash the exact bytes handed to onnxruntime, so no file swap can slip in between.
  const actual = sha256(bytes);
  if (actual !== manifest.sha256) {
    throw new PipelineError(
      ErrorCodes.MODEL_INTEGRITY,
      `model ${file} does not match its manifest: sha256 ${actual}, manifest says ${manifest.sha256}`,
      { details: { file, manifest: manifestPath, expected: manifest.sha256, actual } },
    );
  }
  const expectedFeatures = featureNames(manifest.source);
  if (expectedFeatures && expectedFeatures.join(',') !== manifest.features.join(',')) {
    throw new PipelineError(
      ErrorCodes.MODEL_LOAD,
      `model ${manifest.name} was trained on a different feature order than @patternflow/sources defines for "${manifest.source}": retrain it`,
      { details: { manifest: manifestPath, trained: manifest.features, current: expectedFeatures } },
    );
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    throw new PipelineError(
      ErrorCodes.MODEL_LOAD,
      `onnxruntime cannot load ${file}: ${(err as Error).message}`,
      {
        cause: err,
        details: { file },
      },
    );
  }
  if (
    !session.inputNames.includes(manifest.input_name) ||
    !session.outputNames.includes(manifest.output_probabilities)
  ) {
    await session.release();
    throw new PipelineError(
      ErrorCodes.MODEL_LOAD,
      `model ${file} has inputs [${session.inputNames}] and outputs [${session.outputNames}], manifest expects input ${manifest.input_name} and output ${manifest.output_probabilities}`,
      { details: { file } },
    );
  }
  // One probe row proves the graph runs and that its class count matches the manifest.
  const probe = await session.run(
    {
      [manifest.input_name]: new ort.Tensor('float32', new Float32Array(manifest.features.length), [
        1,
        manifest.features.length,
      ]),
    },
    [manifest.output_probabilities],
  );
  const dims = probe[manifest.output_probabilities]?.dims ?? [];
  if (dims.length !== 2 || dims[1] !== manifest.labels.length) {
    await session.release();
    throw new PipelineError(
      ErrorCodes.MODEL_LOAD,
      `model ${file} outputs probabilities of shape [${dims}], manifest lists ${manifest.labels.length} labels`,
      { details: { file } },
    );
  }
  return {
    manifest,
    session,
    info: Object.freeze({
      name: manifest.name,
      version: manifest.version,
      source: manifest.source,
      features: Object.freeze([...manifest.features]),
      labels: Object.freeze([...manifest.labels]),
      thresholds: Object.freeze({ ...manifest.thresholds }),
      sha256: manifest.sha256,
      file,
      sizeBytes: bytes.length,
    }),
  };
}

function histogram(registry: Registry, name: string, help: string, buckets: number[]): Histogram<'model'> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<'model'>;
  return new Histogram({ name, help, labelNames: ['model'], buckets, registers: [registry] });
}

function invalidRow(model: ModelInfo, message: string, details: Record<string, unknown>): PredictionOutcome {
  return {
    ok: false,
    error: new PipelineError(ErrorCodes.INVALID_FEATURES, `${model.name}: ${message}`, {
      details: { model: model.name, ...details },
    }),
  };
}

function validateRow(model: ModelInfo, row: Float32Array): PredictionOutcome | null {
  if (!(row instanceof Float32Array)) return invalidRow(model, 'features must be a Float32Array', {});
  if (row.length !== model.features.length) {
    return invalidRow(model, `got ${row.length} features, the model takes ${model.features.length}`, {
      length: row.length,
    });
  }
  for (let i = 0; i < row.length; i++) {
    if (!Number.isFinite(row[i]!)) {
      return invalidRow(model, `feature "${model.features[i]}" (index ${i}) is ${row[i]}`, {
        feature: model.features[i],
        value: String(row[i]),
      });
    }
  }
  return null;
}

/** Loads every model under `modelsDir` (`<dir>/*.manifest.json` and `<dir>/<sub>/*.manifest.json`). */
export async function loadModelRuntime(options: ModelRuntimeOptions): Promise<ModelRuntime> {
  const threads = options.intraOpThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `intraOpThreads must be a positive integer, got ${threads}`,
    );
  }
  const maxBatchRows = options.maxBatchRows ?? 1024;
  const sessionOpts = sessionOptions(threads);
  const loaded: LoadedModel[] = [];
  try {
    for (const path of await manifestPaths(options.modelsDir)) loaded.push(await loadOne(path, sessionOpts));
  } catch (err) {
    await Promise.all(loaded.map((m) => m.session.release()));
    throw err;
  }
  // When several versions serve one source, the highest version wins.
  const byKey = new Map<string, LoadedModel>();
  for (const model of loaded) {
    const current = byKey.get(model.info.source);
    if (!current || compareVersions(model.info.version, current.info.version) > 0)
      byKey.set(model.info.source, model);
  }
  const active = [...byKey.values()];
  await Promise.all(loaded.filter((m) => !active.includes(m)).map((m) => m.session.release()));

  const seconds = options.registry
    ? histogram(
        options.registry,
        'pf_inference_seconds',
        'Wall time of one session.run (one micro-batch)',
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      )
    : undefined;
  const batchSize = options.registry
    ? histogram(
        options.registry,
        'pf_inference_batch_size',
        'Rows per session.run',
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
      )
    : undefined;

  const missing = (source: string): PipelineError =>
    new PipelineError(ErrorCodes.MODEL_MISSING, `no model serves source "${source}"`, {
      details: { source, available: [...byKey.keys()] },
    });

  async function runBatch(model: LoadedModel, rows: readonly Float32Array[]): Promise<Prediction[]> {
    const { info, manifest, session } = model;
    const width = info.features.length;
    const input = new Float32Array(rows.length * width);
    rows.forEach((row, r) => {
      input.set(row, r * width);
    });
    const started = process.hrtime.bigint();
    let output: ort.InferenceSession.ReturnType;
    try {
      output = await session.run(
        { [manifest.input_name]: new ort.Tensor('float32', input, [rows.length, width]) },
        [manifest.output_probabilities],
      );
    } catch (err) {
      throw new PipelineError(
        ErrorCodes.INFERENCE_FAILED,
        `onnxruntime failed to run ${info.name}: ${(err as Error).message}`,
        {
          cause: err,
          details: { model: info.name, rows: rows.length },
        },
      );
    }
    seconds?.observe({ model: info.name }, Number(process.hrtime.bigint() - started) / 1e9);
    batchSize?.observe({ model: info.name }, rows.length);
    const probs = output[manifest.output_probabilities]!.data as Float32Array;
    const k = info.labels.length;
    const predictions: Prediction[] = [];
    for (let r = 0; r < rows.length; r++) {
      const p = probs.subarray(r * k, (r + 1) * k);
      const best = decideLabel(p, info.labels, info.thresholds);
      const scores: Record<string, number> = {};
      for (let i = 0; i < k; i++) scores[info.labels[i]!] = p[i]!;
      predictions.push({
        label: info.labels[best]!,
        score: p[best]!,
        scores,
        modelName: info.name,
        modelVersion: info.version,
      });
    }
    return predictions;
  }

  async function predict(source: string, rows: readonly Float32Array[]): Promise<PredictionOutcome[]> {
    const model = byKey.get(source);
    if (!model) return rows.map(() => ({ ok: false, error: missing(source) }));
    const outcomes: PredictionOutcome[] = new Array(rows.length);
    const validIndex: number[] = [];
    rows.forEach((row, i) => {
      const problem = validateRow(model.info, row);
      if (problem) outcomes[i] = problem;
      else validIndex.push(i);
    });
    for (let start = 0; start < validIndex.length; start += maxBatchRows) {
      const chunk = validIndex.slice(start, start + maxBatchRows);
      const predictions = await runBatch(
        model,
        chunk.map((i) => rows[i]!),
      );
      chunk.forEach((rowIndex, j) => {
        outcomes[rowIndex] = { ok: true, prediction: predictions[j]! };
      });
    }
    return outcomes;
  }

  return {
    models: Object.freeze(active.map((m) => m.info)),
    hasModel: (source) => byKey.has(source),
    predict,
    async close() {
      await Promise.all(active.map((m) => m.session.release()));
      byKey.clear();
    },
  };
}
