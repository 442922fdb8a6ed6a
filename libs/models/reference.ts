/**
 * The training reference a manifest carries for drift detection: per feature, fixed bins
 * (the deciles of the training rows as edges) with the share of training rows in each, and
 * the share of each predicted label on the held-out set. Live traffic binned with the same
 * `binIndex` and the same edges gives the distributions a PSI compares with these.
 *
 * One implementation, in TypeScript, for the trainer (training/reference.ts) and the
 * serving side, so the bins cannot differ between the two: the same reason the features
 * are computed in TypeScript only.
 */

export interface FeatureReference {
  /**
   * Ascending, distinct bin edges. Bin 0 holds v < edges[0], bin i holds
   * edges[i-1] <= v < edges[i], the last bin v >= edges[edges.length - 1]:
   * edges.length + 1 bins.
   */
  edges: number[];
  /** Training rows per bin. */
  counts: number[];
  /** counts / rows, rounded to 6 decimals. */
  shares: number[];
}

export interface ModelReference {
  /** How the bins were made, for a person reading the manifest. */
  method: string;
  features: {
    /** Rows the feature distributions were computed from (the training set). */
    rows: number;
    seed: number;
    bins: Record<string, FeatureReference>;
  };
  predicted_labels: {
    /** Rows of the held-out set, labelled by the model through the runtime's decision rule. */
    rows: number;
    seed: number;
    counts: Record<string, number>;
    shares: Record<string, number>;
  };
}

export const REFERENCE_METHOD =
  'per feature: the training rows at the 10%..90% quantiles (sorted[floor(q*n)]) as bin edges, equal edges merged; ' +
  'bin i holds edges[i-1] <= v < edges[i] (bin 0: v < edges[0]; last bin: v >= the last edge); ' +
  'predicted labels: the model on the held-out set';

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** The bin of `value` for these edges: how many edges are <= value (binary search). */
export function binIndex(edges: readonly number[], value: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Decile edges of `values` (distinct, ascending) and the rows per bin. */
export function featureReference(values: ArrayLike<number>): FeatureReference {
  const n = values.length;
  if (n === 0) throw new Error('featureReference: no rows');
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  for (let i = 1; i <= 9; i++) {
    const edge = sorted[Math.floor((i * n) / 10)]!;
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (let r = 0; r < n; r++) counts[binIndex(edges, values[r]!)]!++;
  return { edges, counts, shares: counts.map((c) => round6(c / n)) };
}

/**
 * The reference block of a manifest: `trainRows` are the training feature vectors (in the
 * manifest's feature order), `heldOutLabels` the model's labels on the held-out rows.
 */
export function computeReference(input: {
  features: readonly string[];
  labels: readonly string[];
  trainRows: readonly Float32Array[];
  trainSeed: number;
  heldOutLabels: readonly string[];
  heldOutSeed: number;
}): ModelReference {
  const { features, labels, trainRows, heldOutLabels } = input;
  const bins: Record<string, FeatureReference> = {};
  const column = new Float64Array(trainRows.length);
  features.forEach((feature, f) => {
    trainRows.forEach((row, r) => {
      if (row.length !== features.length)
        throw new Error(`computeReference: row ${r} has ${row.length} features, expected ${features.length}`);
      column[r] = row[f]!;
    });
    bins[feature] = featureReference(column);
  });
  const counts: Record<string, number> = Object.fromEntries(labels.map((label) => [label, 0]));
  for (const label of heldOutLabels) {
    if (!(label in counts))
      throw new Error(`computeReference: predicted label "${label}" is not a model label`);
    counts[label]!++;
  }
  const shares = Object.fromEntries(
    labels.map((label) => [label, heldOutLabels.length ? round6(counts[label]! / heldOutLabels.length) : 0]),
  );
  return {
    method: REFERENCE_METHOD,
    features: { rows: trainRows.length, seed: input.trainSeed, bins },
    predicted_labels: { rows: heldOutLabels.length, seed: input.heldOutSeed, counts, shares },
  };
}
