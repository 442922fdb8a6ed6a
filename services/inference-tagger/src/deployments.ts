/**
 * Labelling a micro-batch by the deployments in force: the batch reads the deployment
 * snapshot once, so every row of it is labelled by the versions that snapshot names, even
 * when a new deployment is swapped in while it runs. Per source:
 * - serving only: one session.run of the serving version;
 * - shadow: the serving version labels every row, the candidate runs on the same rows (one
 *   more session.run) and its label rides along as `shadow`; routing never sees it;
 * - canary: rows whose id hashes below the share go to the candidate, the others to the
 *   serving version (two session.runs, each on its own rows).
 */
import { createHash } from 'node:crypto';
import type { CandidateMode } from '@patternflow/control';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { LoadedModelVersion, Prediction, PredictionOutcome } from '@patternflow/models';
import type { FeatureRow } from './handler.ts';
import type { ModelMetrics } from './model-metrics.ts';

export interface DeployedCandidate {
  readonly model: LoadedModelVersion;
  readonly mode: CandidateMode;
  /** canary only. */
  readonly share?: number;
}

/** A source's deployment as loaded in this replica. */
export interface Deployed {
  /** The control record's id (what the replica acknowledges). */
  readonly id: string;
  readonly serving: LoadedModelVersion;
  readonly candidate: DeployedCandidate | null;
}

export type DeploymentSnapshot = ReadonlyMap<string, Deployed>;

/** A label, and beside it the shadow candidate's when one runs. */
export type TaggingOutcome = PredictionOutcome & { readonly shadow?: Prediction };

/**
 * Whether the canary labels record `id`: the first 8 bytes of sha256(id), read as an unsigned
 * integer over 2^64, fall below `share`. Stable: a replay of the same id gets the same model.
 */
export function canaryPicks(id: string, share: number): boolean {
  const digest = createHash('sha256').update(id, 'utf8').digest();
  return Number(digest.readBigUInt64BE(0)) / 2 ** 64 < share;
}

type PredictWith = (model: LoadedModelVersion, rows: readonly Float32Array[]) => Promise<PredictionOutcome[]>;

/** Labels a micro-batch by the snapshot it was given (taken once per batch by the caller). */
export function createDeploymentInference(deps: {
  predictWith: PredictWith;
  metrics: ModelMetrics;
}): (snapshot: DeploymentSnapshot, rows: FeatureRow[]) => Promise<TaggingOutcome[]> {
  const { predictWith, metrics } = deps;
  const missing = (source: string, snapshot: DeploymentSnapshot): PipelineError =>
    new PipelineError(ErrorCodes.MODEL_MISSING, `no model serves source "${source}"`, {
      details: { source, available: [...snapshot.keys()] },
    });

  return async (snapshot, rows) => {
    const outcomes = new Array<TaggingOutcome>(rows.length);
    const bySource = new Map<string, number[]>();
    rows.forEach((row, i) => {
      const indexes = bySource.get(row.modelKey);
      if (indexes) indexes.push(i);
      else bySource.set(row.modelKey, [i]);
    });
    const run = async (model: LoadedModelVersion, indexes: readonly number[]) =>
      indexes.length === 0
        ? []
        : predictWith(
            model,
            indexes.map((i) => rows[i]!.values),
          );

    for (const [source, indexes] of bySource) {
      const deployed = snapshot.get(source);
      if (!deployed) {
        for (const i of indexes) outcomes[i] = { ok: false, error: missing(source, snapshot) };
        continue;
      }
      const { serving, candidate } = deployed;
      if (candidate?.mode === 'canary') {
        const share = candidate.share ?? 0;
        const toCandidate: number[] = [];
        const toServing: number[] = [];
        for (const i of indexes) (canaryPicks(rows[i]!.id, share) ? toCandidate : toServing).push(i);
        const [byCandidate, byServing] = [
          await run(candidate.model, toCandidate),
          await run(serving, toServing),
        ];
        toCandidate.forEach((i, k) => {
          outcomes[i] = byCandidate[k]!;
        });
        toServing.forEach((i, k) => {
          outcomes[i] = byServing[k]!;
        });
        metrics.recordsLabelled(source, candidate.model.info, 'canary', byCandidate);
        metrics.recordsLabelled(source, serving.info, 'serving', byServing);
        continue;
      }
      const byServing = await run(serving, indexes);
      if (candidate?.mode !== 'shadow') {
        indexes.forEach((i, k) => {
          outcomes[i] = byServing[k]!;
        });
        metrics.recordsLabelled(source, serving.info, 'serving', byServing);
        continue;
      }
      // Shadow: the candidate sees exactly the rows the serving version labelled.
      const labelled = indexes.filter((_, k) => byServing[k]!.ok);
      const byShadow = await run(candidate.model, labelled);
      const shadowOf = new Map<number, Prediction>();
      labelled.forEach((i, k) => {
        const outcome = byShadow[k]!;
        if (outcome.ok) shadowOf.set(i, outcome.prediction);
      });
      indexes.forEach((i, k) => {
        const outcome = byServing[k]!;
        const shadow = shadowOf.get(i);
        outcomes[i] = outcome.ok && shadow ? { ...outcome, shadow } : outcome;
        if (outcome.ok && shadow) metrics.shadowCompared(source, outcome.prediction.label, shadow.label);
      });
      metrics.recordsLabelled(source, serving.info, 'serving', byServing);
    }
    return outcomes;
  };
}
