/**
 * @patternflow/sources: the registry of source packs (raw schema, normalizer, generator,
 * feature definition). Adding a source = schemas/sources/<source>.avsc + one module
 * implementing SourcePack + one line in PACKS.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { NormalizedPattern } from '@patternflow/records';
import { auth } from './auth.ts';
import type { LabelledEvent, SourceAdapter, SourcePack } from './contract.ts';
import { netflow } from './netflow.ts';
import { payments } from './payments.ts';
import { deriveSeed, Rng } from './prng.ts';

export type {
  FeatureDefinition,
  GeneratorOptions,
  LabelledEvent,
  NormalizedCore,
  SourceAdapter,
  SourcePack,
} from './contract.ts';

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

/** The full pack (labels, features, generator) for training, evaluation and load generation. */
export function getSourcePack(source: string): SourcePack | undefined {
  return BY_NAME.get(source);
}

/** Feature order of a model key (undefined when no source defines it). */
export function featureNames(modelKey: string): readonly string[] | undefined {
  return BY_MODEL_KEY.get(modelKey)?.features.names;
}

/** Default clock of generated events: 2025-03-03T00:00:00Z, one event per ~7 s per source. */
export const DEFAULT_START_TIME = Date.UTC(2025, 2, 3);
export const DEFAULT_MEAN_GAP_MS = 7000;

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Which sources to mix (default: all). Each source gets an equal share on average. */
  sources?: readonly string[];
  startTime?: number;
  meanGapMs?: number;
}

/**
 * A deterministic stream of labelled raw events. Same options => same events. Each source
 * draws from its own stream (derived from seed and source name) and a separate stream
 * picks the interleaving, so one source's events do not depend on the mix.
 */
export function* generateEvents(options: GenerateOptions): Generator<LabelledEvent> {
  const names = options.sources ?? sourceNames();
  if (names.length === 0)
    throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, 'generateEvents: no sources given');
  const generators = names.map((name) => {
    const pack = BY_NAME.get(name);
    if (!pack) {
      throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, `generateEvents: unknown source "${name}"`, {
        details: { source: name, known: sourceNames() },
      });
    }
    return pack.createGenerator({
      seed: deriveSeed(options.seed, name),
      startTime: options.startTime ?? DEFAULT_START_TIME,
      meanGapMs: options.meanGapMs ?? DEFAULT_MEAN_GAP_MS,
    });
  });
  const mix = new Rng(deriveSeed(options.seed, '#mix'));
  for (let i = 0; i < options.count; i++) {
    const next =
      generators.length === 1 ? generators[0]! : generators[Math.floor(mix.next() * generators.length)]!;
    yield next();
  }
}

export interface CanonicalOptions {
  ingestTime?: number;
  payloadFormat?: 'JSON' | 'AVRO';
  payloadSchemaId?: number | null;
}

/**
 * Raw event -> full canonical record, as the ingestor builds it (fixtures, training,
 * evaluation). Throws PipelineError UNKNOWN_SOURCE / INVALID_FIELD / MISSING_FIELD.
 */
export function toNormalizedPattern(
  source: string,
  raw: Record<string, unknown>,
  options: CanonicalOptions = {},
): NormalizedPattern {
  const adapter = BY_NAME.get(source);
  if (!adapter) {
    throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, `no source adapter for "${source}"`, {
      details: { source },
    });
  }
  const core = adapter.normalize(raw);
  return {
    ...core,
    ingest_time: options.ingestTime ?? core.event_time,
    payload: JSON.stringify(raw),
    payload_format: options.payloadFormat ?? 'JSON',
    payload_schema_id: options.payloadSchemaId ?? null,
  };
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
