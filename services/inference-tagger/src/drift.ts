/**
 * Drift: per source and model, the distribution of each model feature and of the predicted
 * labels over a sliding window of the last records, compared with the training reference
 * the model's signed manifest carries (libs/models reference.ts) by the Population
 * Stability Index, PSI = Σ (a − e)·ln(a / e) over the reference's fixed bins.
 *
 * The hot path is integer counting: one binary search per feature per record (binIndex,
 * the same function and edges that made the reference) and one increment. The window is a
 * ring of buckets, so old records leave it a bucket at a time without being stored. PSI is
 * computed only when /metrics is scraped.
 */
import { binIndex, type ModelReference } from '@patternflow/models';
import { Counter, Gauge, type Registry } from 'prom-client';

/** Shares below this (empty bins on either side) are raised to it, so ln never sees 0. */
export const PSI_EPSILON = 1e-4;

/** PSI of `actual` counts against `expected` shares (same bins). 0 when `actual` is empty. */
export function psi(actual: ArrayLike<number>, expected: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  let total = 0;
  for (let i = 0; i < actual.length; i++) total += actual[i]!;
  if (total === 0) return 0;
  let sum = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Math.max(actual[i]! / total, epsilon);
    const e = Math.max(expected[i]!, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/** What the drift of one model is measured against: its manifest's features, labels and reference. */
export interface DriftModel {
  name: string;
  version: string;
  features: readonly string[];
  labels: readonly string[];
  reference: ModelReference;
}

export interface DriftOptions {
  /** Records in the window per (source, model). */
  windowRecords: number;
  /** Buckets of the ring; the window slides by windowRecords / buckets records. */
  buckets: number;
  /** Features left out (e.g. local_hour: a window of records covers hours, not a day). */
  ignoreFeatures?: readonly string[];
}

/** The sliding histograms of one (source, model version). */
interface Window {
  model: DriftModel;
  /** Features that are measured: index in the row, name, edges, expected shares. */
  features: { index: number; name: string; edges: readonly number[]; expected: readonly number[] }[];
  /** Per feature, its bins' counts over the whole window (the sum of the ring's buckets). */
  totals: Uint32Array[];
  labelTotals: Uint32Array;
  /** ring[b][f] = feature f's bin counts in bucket b; ring[b][features.length] = label counts. */
  ring: Uint32Array[][];
  bucketFill: Uint32Array;
  current: number;
  /** Records in the window now: between windowRecords − bucket + 1 and windowRecords once it slides. */
  records: number;
  /** Records counted since the window opened (its fill is min(1, seen / windowRecords)). */
  seen: number;
  /** The all-time count of its (source, model), for pf_drift_records_total. */
  counted: { records: number };
}

export interface DriftMonitor {
  /** Counts one tagged record. `model` is the version that labelled it. */
  observe(source: string, model: DriftModel, row: Float32Array, label: string): void;
  /** PSI per feature and of the labels, and the window's records, of one source (for tests and the bench). */
  snapshot(
    source: string,
  ):
    | { model: string; version: string; records: number; features: Record<string, number>; labels: number }
    | undefined;
}

/** Checks that a manifest's reference covers the model's features and labels with consistent bins. */
export function referenceProblem(
  model: Omit<DriftModel, 'reference'> & { reference?: unknown },
): string | undefined {
  const reference = model.reference as ModelReference | undefined;
  if (!reference?.features?.bins || !reference.predicted_labels?.shares)
    return 'the manifest has no reference block';
  for (const feature of model.features) {
    const bins = reference.features.bins[feature];
    if (
      !bins ||
      !Array.isArray(bins.edges) ||
      !Array.isArray(bins.shares) ||
      bins.shares.length !== bins.edges.length + 1
    )
      return `the reference has no consistent bins for feature "${feature}"`;
  }
  for (const label of model.labels) {
    if (typeof reference.predicted_labels.shares[label] !== 'number')
      return `the reference has no predicted share for label "${label}"`;
  }
  return undefined;
}

/**
 * Registers pf_feature_psi{source,model,feature}, pf_label_psi{source,model},
 * pf_drift_window_fill{source,model} (0..1) and pf_drift_records_total{source,model}.
 */
export function createDriftMonitor(registry: Registry, options: DriftOptions): DriftMonitor {
  const { windowRecords, buckets } = options;
  if (!Number.isInteger(buckets) || buckets < 1 || windowRecords % buckets !== 0 || windowRecords < buckets)
    throw new Error(
      `drift window: ${windowRecords} records must be a positive multiple of ${buckets} buckets`,
    );
  const bucketRecords = windowRecords / buckets;
  const ignored = new Set(options.ignoreFeatures ?? []);
  const windows = new Map<string, Window>();

  const open = (model: DriftModel): Window => {
    const features = model.features.flatMap((name, index) => {
      if (ignored.has(name)) return [];
      const bins = model.reference.features.bins[name]!;
      return [{ index, name, edges: bins.edges, expected: bins.shares }];
    });
    const sizes = [...features.map((f) => f.edges.length + 1), model.labels.length];
    return {
      model,
      features,
      totals: features.map((f) => new Uint32Array(f.edges.length + 1)),
      labelTotals: new Uint32Array(model.labels.length),
      ring: Array.from({ length: buckets }, () => sizes.map((n) => new Uint32Array(n))),
      bucketFill: new Uint32Array(buckets),
      current: 0,
      records: 0,
      seen: 0,
      counted: { records: 0 },
    };
  };

  // Plain numbers on the hot path; the counter reads them at scrape (a labelled inc per
  // record costs as much as the binning itself).
  const counted = new Map<string, { source: string; model: string; records: number }>();
  new Counter({
    name: 'pf_drift_records_total',
    help: 'Tagged records counted into the drift window, by source and model',
    labelNames: ['source', 'model'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of counted.values()) this.inc({ source: c.source, model: c.model }, c.records);
    },
  });
  const forEachWindow = (set: (source: string, w: Window) => void) => {
    for (const [source, w] of windows) set(source, w);
  };
  new Gauge({
    name: 'pf_feature_psi',
    help: "PSI of a model feature's distribution over the drift window against the training reference of the manifest",
    labelNames: ['source', 'model', 'feature'],
    registers: [registry],
    collect() {
      this.reset();
      forEachWindow((source, w) => {
        w.features.forEach((f, k) => {
          this.set({ source, model: w.model.name, feature: f.name }, psi(w.totals[k]!, f.expected));
        });
      });
    },
  });
  const labelExpected = (w: Window) =>
    w.model.labels.map((l) => w.model.reference.predicted_labels.shares[l]!);
  new Gauge({
    name: 'pf_label_psi',
    help: 'PSI of the predicted labels over the drift window against the labels the model gave the held-out set',
    labelNames: ['source', 'model'],
    registers: [registry],
    collect() {
      this.reset();
      forEachWindow((source, w) => {
        this.set({ source, model: w.model.name }, psi(w.labelTotals, labelExpected(w)));
      });
    },
  });
  new Gauge({
    name: 'pf_drift_window_fill',
    help: 'Records counted into the drift window / its size, at most 1 (PSI of a window that has not filled yet is noisier)',
    labelNames: ['source', 'model'],
    registers: [registry],
    collect() {
      this.reset();
      forEachWindow((source, w) => {
        this.set({ source, model: w.model.name }, Math.min(1, w.seen / windowRecords));
      });
    },
  });

  return {
    observe(source, model, row, label) {
      let w = windows.get(source);
      // A new serving version (or model) for the source: its own reference, a fresh window.
      if (!w || w.model.name !== model.name || w.model.version !== model.version) {
        w = open(model);
        windows.set(source, w);
        const key = `${source}\u0000${model.name}`;
        if (!counted.has(key)) counted.set(key, { source, model: model.name, records: 0 });
        w.counted = counted.get(key)!;
      }
      if (w.bucketFill[w.current] === bucketRecords) {
        // Slide: the oldest bucket leaves the totals and is reused.
        w.current = (w.current + 1) % buckets;
        const oldest = w.ring[w.current]!;
        w.features.forEach((_, k) => {
          const counts = oldest[k]!;
          const totals = w.totals[k]!;
          for (let b = 0; b < counts.length; b++) totals[b]! -= counts[b]!;
          counts.fill(0);
        });
        const oldLabels = oldest[w.features.length]!;
        for (let b = 0; b < oldLabels.length; b++) w.labelTotals[b]! -= oldLabels[b]!;
        oldLabels.fill(0);
        w.records -= w.bucketFill[w.current]!;
        w.bucketFill[w.current] = 0;
      }
      const bucket = w.ring[w.current]!;
      for (let k = 0; k < w.features.length; k++) {
        const f = w.features[k]!;
        const bin = binIndex(f.edges, row[f.index]!);
        bucket[k]![bin]!++;
        w.totals[k]![bin]!++;
      }
      const labelIndex = w.model.labels.indexOf(label);
      if (labelIndex >= 0) {
        bucket[w.features.length]![labelIndex]!++;
        w.labelTotals[labelIndex]!++;
      }
      w.bucketFill[w.current]!++;
      w.records++;
      w.seen++;
      w.counted.records++;
    },
    snapshot(source) {
      const w = windows.get(source);
      if (!w) return undefined;
      return {
        model: w.model.name,
        version: w.model.version,
        records: w.records,
        features: Object.fromEntries(w.features.map((f, k) => [f.name, psi(w.totals[k]!, f.expected)])),
        labels: psi(w.labelTotals, labelExpected(w)),
      };
    },
  };
}
