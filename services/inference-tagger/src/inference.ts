import type { ModelRuntime, PredictionOutcome } from '@patternflow/models';
import type { FeatureRow } from './handler.ts';

/**
 * A micro-batch of rows of any sources → one session.run per model for the whole batch,
 * results back in row order.
 */
export function predictByModel(
  runtime: Pick<ModelRuntime, 'predict'>,
): (rows: FeatureRow[]) => Promise<PredictionOutcome[]> {
  return async (rows) => {
    const outcomes = new Array<PredictionOutcome>(rows.length);
    const byModel = new Map<string, number[]>();
    rows.forEach((row, i) => {
      const indexes = byModel.get(row.modelKey);
      if (indexes) indexes.push(i);
      else byModel.set(row.modelKey, [i]);
    });
    for (const [modelKey, indexes] of byModel) {
      const results = await runtime.predict(
        modelKey,
        indexes.map((i) => rows[i]!.values),
      );
      indexes.forEach((rowIndex, k) => {
        outcomes[rowIndex] = results[k]!;
      });
    }
    return outcomes;
  };
}
