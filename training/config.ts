/**
 * The data plan shared by the feature export (training) and evaluate.ts. The trainer's
 * held-out set and the evaluation set use seeds different from the training seed, so
 * no event is in two sets.
 */
export const TRAINING_PLAN = {
  trainSeed: 20_250_303,
  /** Held-out set the trainer reports in the manifest and draws the golden rows from. */
  testSeed: 20_250_304,
  /** Held-out set of `make eval` (a third seed). */
  evalSeed: 20_250_305,
  trainRows: 60_000,
  testRows: 20_000,
  evalRows: 20_000,
} as const;
