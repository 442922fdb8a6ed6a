/**
 * @patternflow/sources: the registry of source packs (raw schema, declarative mapping to
 * the canonical record, feature definition). Adding a source = schemas/sources/<source>.avsc
 * + one module implementing SourcePack + one line in PACKS. Seeded event generators for
 * training, tests and load live in tools/generators, never here.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { NormalizedPattern } from '@patternflow/records';
import { auth } from './auth.ts';
import type { SourceAdapter, SourcePack } from './contract.ts';
import { netflow } from './netflow.ts';
import { payments } from './payments.ts';

export { AUTH_VOCABULARY } from './auth.ts';
export type { FeatureDefinition, NormalizedCore, SourceAdapter, SourcePack } from './contract.ts';
export { localHour, REGIONS } from './features.ts';
export type { CanonicalMapping, FieldReading, FieldRule } from './mapping.ts';
export { NETFLOW_VOCABULARY } from './netflow.ts';
export { PAYMENTS_VOCABULARY } from './payments.ts';

/** The one list of sources. */
const PACKS: readonly SourcePack[] = [payments, auth, netflow];
const BY_NAME: ReadonlyMap<string, SourcePack> = new Map(PACKS.map((p) => [p.source, p]));
const BY_MODEL_KEY: ReadonlyMap<string, SourcePack> = new Map(PACKS.map((p) => [p.features.modelKey, p]));

export function sourceNames(): string[] {
  return PACKS.map((p) => p.source);
}

export function getSourceAdapter(source: string): SourceAdapter | undefined {
  return BY_NAME.get(source);
}

/** The full pack (mapping, features) for the trainer's feature export and for tests. */
export function getSourcePack(source: string): SourcePack | undefined {
  return BY_NAME.get(source);
}

/** Feature order of a model key (undefined when no source defines it). */
export function featureNames(modelKey: string): readonly string[] | undefined {
  return BY_MODEL_KEY.get(modelKey)?.features.names;
}

/**
 * Canonical record -> the input vector of the model that serves its source. The one
 * feature definition used by the runtime and by the trainer's feature table.
 * Throws PipelineError INVALID_FEATURES (naming the attribute or feature) or UNKNOWN_SOURCE.
 */
export function extractFeatures(record: NormalizedPattern): { modelKey: string; values: Float32Array } {
  const pack = BY_NAME.get(record.source);
  if (!pack) {
    throw new PipelineError(
      ErrorCodes.UNKNOWN_SOURCE,
      `no feature definition for source "${record.source}"`,
      {
        details: { id: record.id, source: record.source },
      },
    );
  }
  return { modelKey: pack.features.modelKey, values: pack.features.extract(record) };
}
