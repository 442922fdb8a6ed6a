/** @patternflow/models: the signed model store and the ONNX model runtime (verified loading, micro-batched inference). */
export { modelStoreConfigSpec } from './config.ts';
export { decideLabel } from './decision.ts';
export type { ModelManifest } from './manifest.ts';
export {
  binIndex,
  computeReference,
  type FeatureReference,
  type ModelReference,
} from './reference.ts';
export type {
  LoadedModelVersion,
  LoadModelOptions,
  ModelInfo,
  ModelRuntime,
  ModelRuntimeOptions,
  Prediction,
  PredictionOutcome,
} from './runtime.ts';
export { createVersionPredictor, loadModelRuntime, loadModelVersion } from './runtime.ts';
export { isDevPublicKey, keyIdOf, readPrivateKey, readPublicKey, signManifest } from './signing.ts';
export {
  chooseServingVersions,
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  listModelVersions,
  parseVersionPins,
  STORE_FILES,
  type StoreEntry,
  type VersionPin,
  verifyModelVersion,
} from './store.ts';
