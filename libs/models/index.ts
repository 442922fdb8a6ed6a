/** @patternflow/models: the ONNX model runtime (integrity-checked loading, micro-batched inference). */
export type { ModelManifest } from './manifest.ts';
export type {
  ModelInfo,
  ModelRuntime,
  ModelRuntimeOptions,
  Prediction,
  PredictionOutcome,
} from './runtime.ts';
export { loadModelRuntime } from './runtime.ts';
