/**
 * Shared by the training scripts: feature rows regenerated from a seed (the events of
 * @patternflow/generators, the features of @patternflow/sources, exactly as
 * export-features.ts writes them for the trainer), the labels a model.onnx gives rows through
 * the runtime's decision rule, and precision / recall / F1 per class.
 */
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import { decideLabel, type ModelManifest } from '@patternflow/models';
import { extractFeatures } from '@patternflow/sources';
import * as ort from 'onnxruntime-node';

export interface LabelledRows {
  rows: Float32Array[];
  labels: string[];
}

/** `count` events of `source` from `seed`, as feature rows with their generator labels. */
export function labelledRows(source: string, seed: number, count: number): LabelledRows {
  const rows: Float32Array[] = [];
  const labels: string[] = [];
  for (const ev of generateEvents({ seed, count, sources: [source] })) {
    rows.push(extractFeatures(toNormalizedPattern(source, ev.event)).values);
    labels.push(ev.label);
  }
  return { rows, labels };
}

/** The label the model gives each row: its probabilities through the manifest's thresholds (decideLabel). */
export async function predictLabels(
  modelBytes: Uint8Array,
  manifest: ModelManifest,
  rows: readonly Float32Array[],
): Promise<string[]> {
  const session = await ort.InferenceSession.create(modelBytes, {
    intraOpNumThreads: 1,
    logSeverityLevel: 3,
  });
  const width = manifest.features.length;
  const k = manifest.labels.length;
  const labels: string[] = [];
  try {
    for (let start = 0; start < rows.length; start += 1024) {
      const chunk = rows.slice(start, start + 1024);
      const input = new Float32Array(chunk.length * width);
      chunk.forEach((row, r) => {
        input.set(row, r * width);
      });
      const output = await session.run(
        { [manifest.input_name]: new ort.Tensor('float32', input, [chunk.length, width]) },
        [manifest.output_probabilities],
      );
      const probs = output[manifest.output_probabilities]!.data as Float32Array;
      for (let r = 0; r < chunk.length; r++) {
        labels.push(
          manifest.labels[
            decideLabel(probs.subarray(r * k, (r + 1) * k), manifest.labels, manifest.thresholds)
          ]!,
        );
      }
    }
  } finally {
    await session.release();
  }
  return labels;
}

export interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  /** Rows whose truth is the class. */
  support: number;
}

export interface Metrics {
  rows: number;
  macro_f1: number;
  accuracy: number;
  per_class: Record<string, ClassMetrics>;
}

const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/**
 * Precision, recall and F1 per class (0 when undefined, as train.py and evaluate.ts do), their
 * macro-F1 over every class of the model, and accuracy; rounded to 4 digits as train.py does.
 */
export function classMetrics(
  truth: readonly string[],
  predicted: readonly string[],
  labels: readonly string[],
): Metrics {
  if (truth.length !== predicted.length)
    throw new Error(`${truth.length} truths for ${predicted.length} predictions`);
  const perClass: Record<string, ClassMetrics> = {};
  let macro = 0;
  for (const label of labels) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (predicted[i] === label && truth[i] === label) tp++;
      else if (predicted[i] === label) fp++;
      else if (truth[i] === label) fn++;
    }
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    macro += f1;
    perClass[label] = {
      precision: round4(precision),
      recall: round4(recall),
      f1: round4(f1),
      support: tp + fn,
    };
  }
  const correct = truth.reduce((n, t, i) => n + (t === predicted[i] ? 1 : 0), 0);
  return {
    rows: truth.length,
    macro_f1: round4(macro / labels.length),
    accuracy: truth.length ? round4(correct / truth.length) : 0,
    per_class: perClass,
  };
}
