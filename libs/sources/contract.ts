/**
 * The contract every source pack (payments, auth, netflow, …) implements. Adding a source
 * means adding its raw schema (schemas/sources/<source>.avsc) and one module that exports
 * a SourcePack; the ingestor, tagger and trainer find it through libs/sources' registry.
 */
import type { NormalizedPattern } from '@patternflow/records';

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

export interface LabelledEvent {
  source: string;
  /** The raw event, valid against the source's raw schema, as a producer would send it. */
  event: Record<string, unknown>;
  /** Ground truth class, for training and evaluation only (never sent to Kafka). */
  label: string;
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

export interface GeneratorOptions {
  seed: number;
  /** Event time of the first event (epoch millis). */
  startTime: number;
  /** Mean gap between consecutive event times of this source (millis). */
  meanGapMs: number;
}

/** A source adapter plus what training and load generation need: labels, features, a generator. */
export interface SourcePack extends SourceAdapter {
  /** The canonical `kind` of this source's events (e.g. card_payment). */
  readonly kind: string;
  /** Class names in model output order. */
  readonly labels: readonly string[];
  readonly features: FeatureDefinition;
  /** A deterministic stream of labelled raw events: same options => same events. */
  createGenerator(options: GeneratorOptions): () => LabelledEvent;
}
