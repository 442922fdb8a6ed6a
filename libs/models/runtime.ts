/**
 * The model runtime: loads the serving version of every source from the signed store
 * (store.ts), verified before its bytes reach onnxruntime, and classifies micro-batches
 * with one session.run per model per batch. One bad record never fails its batch: features
 * are validated per row before batching and the caller gets one outcome per input.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { featureNames } from '@patternflow/sources';
import * as ort from 'onnxruntime-node';
import { Histogram, type Registry } from 'prom-client';
import { decideLabel } from './decision.ts';
import type { ModelManifest } from './manifest.ts';
import type { ModelReference } from './reference.ts';
import {
  chooseServingVersions,
  listModelVersions,
  type StoreEntry,
  type VersionPin,
  verifyModelVersion,
} from './store.ts';

export interface Prediction {
  label: string;
  /** Probability of `label`. */
  score: number;
  scores: Record<string, number>;
  modelName: string;
  modelVersion: string;
  /** sha256 of the model.onnx that labelled the row (its signed manifest's). */
  modelSha256: string;
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
  /** Absolute path of the verified model.onnx. */
  file: string;
  sizeBytes: number;
  /** The manifest's training reference for drift (bins per feature, predicted label shares), when it has one. */
  reference?: ModelReference;
}

export interface ModelRuntimeOptions {
  /** The model store: `<store>/<name>/<version>/` (store.ts). */
  store: string;
  /** The trusted public key: every version that serves must be signed by its private half. */
  publicKey: KeyObject;
  /** Versions to serve instead of the highest of their source (PF_MODEL_VERSIONS). */
  pins?: readonly VersionPin[];
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
  /** The store index at load: every version, verified or why not (refused versions never serve). */
  readonly store: readonly StoreEntry[];
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

export interface LoadModelOptions {
  /** onnxruntime intra-op threads of the session (default 1; see docs/models.md). */
  intraOpThreads?: number;
}

/** A verified model version with its ready onnxruntime session. */
export interface LoadedModelVersion {
  readonly info: ModelInfo;
  readonly manifest: ModelManifest;
  readonly session: ort.InferenceSession;
  release(): Promise<void>;
}

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) {
    throw new PipelineError(
      ErrorCodes.CONFIG_INVALID,
      `intraOpThreads must be a positive integer, got ${threads}`,
    );
  }
}

/**
 * Loads one version of the store: verifies it (signature over the manifest bytes, manifest,
 * directory, sha256 of model.onnx: store.ts), checks its feature order against
 * @patternflow/sources, creates the session from the verified bytes and runs a probe row
 * (input/output names, class count). Throws PF_MODEL_SIGNATURE, PF_MODEL_INTEGRITY or
 * PF_MODEL_LOAD; a version that throws never serves.
 */
export async function loadModelVersion(
  store: string,
  name: string,
  version: string,
  publicKey: KeyObject,
  options: LoadModelOptions = {},
): Promise<LoadedModelVersion> {
  const threads = options.intraOpThreads ?? 1;
  checkThreads(threads);
  const {
    manifest,
    manifestPath,
    modelPath: file,
    modelBytes: bytes,
  } = await verifyModelVersion(store, name, version, publicKey);
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
    session = await ort.InferenceSession.create(bytes, sessionOptions(threads));
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
    release: () => session.release(),
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
      ...(manifest.reference ? { reference: manifest.reference as ModelReference } : {}),
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

/**
 * Classifies rows with one loaded version: rows are validated first (a bad row is its own
 * PF_INVALID_FEATURES outcome), the valid ones share one session.run (per `maxBatchRows`).
 * The tagger's deployments use it for whichever version a micro-batch snapshot names.
 */
export function createVersionPredictor(
  options: Pick<ModelRuntimeOptions, 'registry' | 'maxBatchRows'> = {},
): (model: LoadedModelVersion, rows: readonly Float32Array[]) => Promise<PredictionOutcome[]> {
  const maxBatchRows = options.maxBatchRows ?? 1024;
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
  async function runBatch(model: LoadedModelVersion, rows: readonly Float32Array[]): Promise<Prediction[]> {
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
        modelSha256: info.sha256,
      });
    }
    return predictions;
  }

  return async (model, rows) => {
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
  };
}

/**
 * Loads the serving version of every source in the store: the pinned one, else the highest
 * (store.ts chooseServingVersions). If a serving version does not verify or load, nothing
 * is served: the error (PF_MODEL_SIGNATURE, PF_MODEL_INTEGRITY, PF_MODEL_LOAD) is thrown,
 * and the tagger does not start. Versions that do not serve are verified for `store` only.
 */
export async function loadModelRuntime(options: ModelRuntimeOptions): Promise<ModelRuntime> {
  const threads = options.intraOpThreads ?? 1;
  checkThreads(threads);
  const entries = await listModelVersions(options.store, options.publicKey);
  const serving = chooseServingVersions(entries, options.pins);
  const byKey = new Map<string, LoadedModelVersion>();
  try {
    for (const [source, entry] of [...serving].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const model = await loadModelVersion(options.store, entry.name, entry.version, options.publicKey, {
        intraOpThreads: threads,
      });
      if (model.info.source !== source) {
        // Only possible when the store changed between the listing and the load.
        await model.release();
        throw new PipelineError(
          ErrorCodes.MODEL_INTEGRITY,
          `model version ${entry.dir} changed while it was loaded (source ${model.info.source}, listed as ${source})`,
          { details: { file: entry.dir } },
        );
      }
      byKey.set(source, model);
    }
  } catch (err) {
    await Promise.all([...byKey.values()].map((m) => m.release()));
    throw err;
  }
  const active = [...byKey.values()];

  const missing = (source: string): PipelineError =>
    new PipelineError(ErrorCodes.MODEL_MISSING, `no model serves source "${source}"`, {
      details: { source, available: [...byKey.keys()] },
    });

  const predictWith = createVersionPredictor(options);
  const predict = async (source: string, rows: readonly Float32Array[]): Promise<PredictionOutcome[]> => {
    const model = byKey.get(source);
    if (!model) return rows.map(() => ({ ok: false, error: missing(source) }));
    return predictWith(model, rows);
  };

  return {
    models: Object.freeze(active.map((m) => m.info)),
    store: Object.freeze(entries),
    hasModel: (source) => byKey.has(source),
    predict,
    async close() {
      await Promise.all(active.map((m) => m.release()));
      byKey.clear();
    },
  };
}
