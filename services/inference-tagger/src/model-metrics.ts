/**
 * What the dashboard shows of the model deployments: the version serving each source and the
 * candidate, records labelled per version and role (serving or canary: the canary's share),
 * and the shadow candidate's disagreements with the serving version per class pair. Series a
 * panel reads exist from the start (at zero), so a pipeline without a candidate shows zeros,
 * not "no data".
 */
import type { CandidateMode } from '@patternflow/control';
import type { ModelInfo, PredictionOutcome } from '@patternflow/models';
import { Counter, Gauge, type Registry } from 'prom-client';

export type LabellingRole = 'serving' | 'canary';

export interface ModelMetrics {
  /** The source's deployment changed: the info gauges name the new versions. */
  deployed(
    source: string,
    serving: ModelInfo,
    candidate: { info: ModelInfo; mode: CandidateMode } | null,
  ): void;
  recordsLabelled(
    source: string,
    model: ModelInfo,
    role: LabellingRole,
    outcomes: readonly PredictionOutcome[],
  ): void;
  shadowCompared(source: string, servingLabel: string, candidateLabel: string): void;
}

export function createModelMetrics(registry: Registry): ModelMetrics {
  const serving = new Gauge({
    name: 'pf_model_serving_info',
    help: 'The model version serving each source (1)',
    labelNames: ['source', 'model', 'version', 'sha256'],
    registers: [registry],
  });
  const candidates = new Gauge({
    name: 'pf_model_candidate_info',
    help: 'The candidate model version of each source and its mode, shadow or canary (1; 0 when there is none)',
    labelNames: ['source', 'model', 'version', 'sha256', 'mode'],
    registers: [registry],
  });
  const labelled = new Counter({
    name: 'pf_model_records_total',
    help: 'Records labelled, by source, model version and role (serving, or canary: the candidate labels and routes them)',
    labelNames: ['source', 'model', 'version', 'role'],
    registers: [registry],
  });
  const shadowRecords = new Counter({
    name: 'pf_shadow_records_total',
    help: 'Records the shadow candidate labelled beside the serving version',
    labelNames: ['source'],
    registers: [registry],
  });
  const disagreements = new Counter({
    name: 'pf_shadow_disagreements_total',
    help: 'Records the shadow candidate labelled differently from the serving version, per class pair',
    labelNames: ['source', 'serving_label', 'candidate_label'],
    registers: [registry],
  });
  const shown = new Map<
    string,
    { serving: Record<string, string>; candidate: Record<string, string> | null }
  >();
  const none = (source: string) => ({ source, model: '', version: '', sha256: '', mode: 'none' });

  return {
    deployed(source, servingInfo, candidate) {
      const previous = shown.get(source);
      if (previous) {
        serving.remove(previous.serving);
        candidates.remove(previous.candidate ?? none(source));
      }
      const servingLabels = {
        source,
        model: servingInfo.name,
        version: servingInfo.version,
        sha256: servingInfo.sha256,
      };
      const candidateLabels = candidate
        ? {
            source,
            model: candidate.info.name,
            version: candidate.info.version,
            sha256: candidate.info.sha256,
            mode: candidate.mode,
          }
        : null;
      serving.set(servingLabels, 1);
      candidates.set(candidateLabels ?? none(source), candidateLabels ? 1 : 0);
      shown.set(source, { serving: servingLabels, candidate: candidateLabels });
      labelled.inc({ source, model: servingInfo.name, version: servingInfo.version, role: 'serving' }, 0);
      shadowRecords.inc({ source }, 0);
      // Every class pair of the serving version's labels at zero: "no disagreement" is a value.
      const labels = [...servingInfo.labels, ...(candidate?.info.labels ?? [])];
      for (const a of new Set(labels))
        for (const b of new Set(labels))
          if (a !== b) disagreements.inc({ source, serving_label: a, candidate_label: b }, 0);
      if (candidate?.mode === 'canary') {
        labelled.inc(
          { source, model: candidate.info.name, version: candidate.info.version, role: 'canary' },
          0,
        );
      }
    },
    recordsLabelled(source, model, role, outcomes) {
      let ok = 0;
      for (const outcome of outcomes) if (outcome.ok) ok++;
      if (ok > 0) labelled.inc({ source, model: model.name, version: model.version, role }, ok);
    },
    shadowCompared(source, servingLabel, candidateLabel) {
      shadowRecords.inc({ source });
      if (servingLabel !== candidateLabel)
        disagreements.inc({ source, serving_label: servingLabel, candidate_label: candidateLabel });
    },
  };
}
