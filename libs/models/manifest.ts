/** The manifest written beside each model by training/train.py, and its validation. */
import { ErrorCodes, PipelineError } from '@patternflow/errors';

export interface ModelManifest {
  name: string;
  version: string;
  /** The model key this model serves (a source name). */
  source: string;
  /** The .onnx file name, relative to the manifest's directory. */
  file: string;
  sha256: string;
  input_name: string;
  output_probabilities: string;
  features: string[];
  labels: string[];
  thresholds: Record<string, number>;
  [other: string]: unknown;
}

function fail(path: string, message: string): PipelineError {
  return new PipelineError(ErrorCodes.MODEL_LOAD, `model manifest ${path}: ${message}`, {
    details: { manifest: path },
  });
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === 'string');

export function parseManifest(path: string, text: string): ModelManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(path, `is not JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw fail(path, 'is not a JSON object');
  const m = value as Record<string, unknown>;
  for (const key of ['name', 'version', 'source', 'file', 'sha256', 'input_name', 'output_probabilities']) {
    if (typeof m[key] !== 'string' || m[key] === '') throw fail(path, `"${key}" must be a non-empty string`);
  }
  if (!/^[0-9a-f]{64}$/.test(m.sha256 as string))
    throw fail(path, '"sha256" must be 64 lowercase hex digits');
  if (/[/\\]/.test(m.file as string)) throw fail(path, '"file" must be a file name beside the manifest');
  if (!isStringArray(m.features) || m.features.length === 0)
    throw fail(path, '"features" must list the input features');
  if (!isStringArray(m.labels) || m.labels.length < 2)
    throw fail(path, '"labels" must list at least two classes');
  const thresholds = m.thresholds ?? {};
  if (typeof thresholds !== 'object' || thresholds === null || Array.isArray(thresholds)) {
    throw fail(path, '"thresholds" must be an object');
  }
  for (const [label, t] of Object.entries(thresholds)) {
    if (!m.labels.includes(label)) throw fail(path, `threshold for unknown label "${label}"`);
    if (typeof t !== 'number' || !(t >= 0 && t <= 1))
      throw fail(path, `threshold of "${label}" must be in [0, 1]`);
  }
  if (Object.keys(thresholds).length === m.labels.length) {
    throw fail(path, 'at least one label must have no threshold (the fallback class)');
  }
  return { ...m, thresholds } as ModelManifest;
}
