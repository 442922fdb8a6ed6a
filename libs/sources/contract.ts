/**
 * The contract every source pack (payments, auth, netflow, …) implements. Adding a source
 * means adding its raw schema (schemas/sources/<source>.avsc) and one module that exports
 * a SourcePack; the ingestor and the tagger find it through libs/sources' registry.
 * Generating events of a source is tooling (tools/generators), not part of the pack.
 */
import type { NormalizedPattern } from '@patternflow/records';
import type { CanonicalMapping } from './mapping.ts';

/** The parts of the canonical record a source decides; the ingestor fills in the rest. */
export type NormalizedCore = Omit<
  NormalizedPattern,
  'ingest_time' | 'payload' | 'payload_format' | 'payload_schema_id'
>;

export interface SourceAdapter {
  /** The <source> of patterns.ingest.<source>. */
  readonly source: string;
  /** Avro schema of the raw event (the JSON of schemas/sources/<source>.avsc). */
  readonly rawSchema: Record<string, unknown>;
  /**
   * Raw event → canonical core. `raw` has already been validated against rawSchema by
   * the ingestor (JSON input with avsc's isValid, Avro input by decoding). Throws
   * PipelineError (INVALID_FIELD / MISSING_FIELD) for what the schema cannot express.
   */
  normalize(raw: Record<string, unknown>): NormalizedCore;
}

/**
 * One model's input: the feature order and how to compute it from the canonical record.
 * The same definition writes the trainer's feature table and feeds the runtime, so
 * training and serving cannot drift.
 */
export interface FeatureDefinition {
  /** Which model consumes the vector (the `source` in a model manifest). */
  readonly modelKey: string;
  readonly names: readonly string[];
  /** Throws PipelineError INVALID_FEATURES naming the attribute or feature at fault. */
  extract(record: NormalizedPattern): Float32Array;
}

/** A source adapter whose normalize is its declarative mapping, plus its model's features. */
export interface SourcePack extends SourceAdapter {
  /** The canonical `kind` of this source's events (e.g. card_payment). */
  readonly kind: string;
  /** Canonical field → raw path and reading; `normalize` interprets it. */
  readonly mapping: CanonicalMapping;
  readonly features: FeatureDefinition;
}
