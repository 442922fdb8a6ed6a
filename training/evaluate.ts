/**
 * `make eval`: precision, recall and F1 per class and macro-F1 of every model on a held-out
 * set generated with its own seed (not the training or the trainer's test seed), run
 * through the TypeScript runtime (onnxruntime-node), next to a baseline per source: the
 * best single-feature rule fitted on the training data.
 *
 *   node training/evaluate.ts [--models STORE] [--public-key PEM] [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { generateEvents, getSourceGenerator, toNormalizedPattern } from '@patternflow/generators';
import {
  DEFAULT_MODEL_STORE,
  DEV_PUBLIC_KEY_PATH,
  loadModelRuntime,
  readPublicKey,
} from '@patternflow/models';
import { extractFeatures } from '@patternflow/sources';
import { TRAINING_PLAN } from './config.ts';

interface ClassMetrics {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

function metrics(truth: readonly number[], predicted: readonly number[], labels: readonly string[]) {
  const perClass: Record<string, ClassMetrics> = {};
  labels.forEach((label, c) => {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < truth.length; i++) {
      if (predicted[i] === c && truth[i] === c) tp++;
      else if (predicted[i] === c) fp++;
      else if (truth[i] === c) fn++;
    }
    const precision = tp + fp ? tp / (tp + fp) : 0;
    const recall = tp + fn ? tp / (tp + fn) : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    perClass[label] = { precision, recall, f1, support: tp + fn };
  });
  const macroF1 = Object.values(perClass).reduce((s, m) => s + m.f1, 0) / labels.length;
  return { macroF1, perClass };
}

function macroF1Fast(truth: Int32Array, predicted: Int32Array, k: number): number {
  const tp = new Float64Array(k);
  const pred = new Float64Array(k);
  const real = new Float64Array(k);
  for (let i = 0; i < truth.length; i++) {
    pred[predicted[i]!]!++;
    real[truth[i]!]!++;
    if (predicted[i] === truth[i]) tp[truth[i]!]!++;
  }
  let sum = 0;
  for (let c = 0; c < k; c++) sum += pred[c]! + real[c]! ? (2 * tp[c]!) / (pred[c]! + real[c]!) : 0;
  return sum / k;
}

interface Table {
  x: Float32Array[];
  y: Int32Array;
}

function table(source: string, seed: number, rows: number): Table {
  const { labels } = getSourceGenerator(source)!;
  const x: Float32Array[] = [];
  const y = new Int32Array(rows);
  let i = 0;
  for (const ev of generateEvents({ seed, count: rows, sources: [source] })) {
    x.push(extractFeatures(toNormalizedPattern(source, ev.event)).values);
    y[i++] = labels.indexOf(ev.label);
  }
  return { x, y };
}

/**
 * The best single-feature rule on the training data. Binary: `feature >= t` (or `< t`)
 * means the positive class, t among 64 quantiles, chosen for macro-F1. Multi-class: the
 * feature cut at 64 quantiles, each interval predicting its majority class.
 */
interface Baseline {
  feature: string;
  describe: string;
  predict(row: Float32Array): number;
}

function quantiles(values: Float32Array, count: number): number[] {
  const sorted = Float32Array.from(values).sort();
  const out = new Set<number>();
  for (let q = 1; q < count; q++) out.add(sorted[Math.floor((q / count) * (sorted.length - 1))]!);
  return [...out].sort((a, b) => a - b);
}

function fitBaseline(train: Table, names: readonly string[], labels: readonly string[]): Baseline {
  const k = labels.length;
  let best: { score: number; baseline: Baseline } | undefined;
  const column = new Float32Array(train.y.length);
  const predicted = new Int32Array(train.y.length);
  for (let f = 0; f < names.length; f++) {
    for (let i = 0; i < column.length; i++) column[i] = train.x[i]![f]!;
    const cuts = quantiles(column, 64);
    if (k === 2) {
      for (const t of cuts) {
        for (const above of [true, false]) {
          for (let i = 0; i < column.length; i++) predicted[i] = column[i]! >= t === above ? 1 : 0;
          const score = macroF1Fast(train.y, predicted, k);
          if (!best || score > best.score) {
            best = {
              score,
              baseline: {
                feature: names[f]!,
                describe: `${labels[1]} if ${names[f]} ${above ? '>=' : '<'} ${t.toPrecision(4)}`,
                predict: (row) => (row[f]! >= t === above ? 1 : 0),
              },
            };
          }
        }
      }
    } else {
      const bin = (v: number): number => {
        let lo = 0;
        let hi = cuts.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cuts[mid]! <= v) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      };
      const counts = Array.from({ length: cuts.length + 1 }, () => new Int32Array(k));
      for (let i = 0; i < column.length; i++) counts[bin(column[i]!)]![train.y[i]!]!++;
      const majority = counts.map((c) => c.indexOf(Math.max(...c)));
      for (let i = 0; i < column.length; i++) predicted[i] = majority[bin(column[i]!)]!;
      const score = macroF1Fast(train.y, predicted, k);
      if (!best || score > best.score) {
        best = {
          score,
          baseline: {
            feature: names[f]!,
            describe: `${names[f]} in ${cuts.length + 1} quantile bins, majority class per bin`,
            predict: (row) => majority[bin(row[f]!)]!,
          },
        };
      }
    }
  }
  return best!.baseline;
}

const pct = (v: number): string => v.toFixed(3);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const store = args.includes('--models') ? args[args.indexOf('--models') + 1]! : DEFAULT_MODEL_STORE;
  const publicKey = readPublicKey(
    args.includes('--public-key') ? args[args.indexOf('--public-key') + 1]! : DEV_PUBLIC_KEY_PATH,
  );
  const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const runtime = await loadModelRuntime({ store, publicKey });
  const report: Record<string, unknown> = {};
  console.log(
    `held-out evaluation: seed ${TRAINING_PLAN.evalSeed}, ${TRAINING_PLAN.evalRows} events per source; ` +
      `baselines fitted on the training set (seed ${TRAINING_PLAN.trainSeed}, ${TRAINING_PLAN.trainRows} events)\n`,
  );
  try {
    for (const info of runtime.models) {
      if (!getSourceGenerator(info.source)) {
        throw new Error(`model ${info.name} serves ${info.source}, which no event generator covers`);
      }
      const labels = info.labels;
      const evalSet = table(info.source, TRAINING_PLAN.evalSeed, TRAINING_PLAN.evalRows);
      const predicted: number[] = [];
      for (let start = 0; start < evalSet.x.length; start += 512) {
        const outcomes = await runtime.predict(info.source, evalSet.x.slice(start, start + 512));
        for (const o of outcomes) {
          if (!o.ok) throw o.error;
          predicted.push(labels.indexOf(o.prediction.label));
        }
      }
      const model = metrics(Array.from(evalSet.y), predicted, labels);
      const baseline = fitBaseline(
        table(info.source, TRAINING_PLAN.trainSeed, TRAINING_PLAN.trainRows),
        info.features,
        labels,
      );
      const base = metrics(
        Array.from(evalSet.y),
        evalSet.x.map((row) => baseline.predict(row)),
        labels,
      );
      console.log(
        `${info.name} ${info.version} (source ${info.source}, ${(info.sizeBytes / 1e6).toFixed(2)} MB)`,
      );
      console.log(
        `  ${'class'.padEnd(18)} ${'support'.padStart(7)}   model P / R / F1        baseline P / R / F1`,
      );
      for (const label of labels) {
        const m = model.perClass[label]!;
        const b = base.perClass[label]!;
        console.log(
          `  ${label.padEnd(18)} ${String(m.support).padStart(7)}   ${pct(m.precision)} / ${pct(m.recall)} / ${pct(m.f1)}   ${pct(b.precision)} / ${pct(b.recall)} / ${pct(b.f1)}`,
        );
      }
      console.log(
        `  macro-F1: model ${pct(model.macroF1)}  baseline ${pct(base.macroF1)}  (baseline: ${baseline.describe})\n`,
      );
      report[info.source] = {
        model: info.name,
        version: info.version,
        size_bytes: info.sizeBytes,
        eval_seed: TRAINING_PLAN.evalSeed,
        rows: TRAINING_PLAN.evalRows,
        model_metrics: model,
        baseline: { rule: baseline.describe, metrics: base },
      };
    }
  } finally {
    await runtime.close();
  }
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
