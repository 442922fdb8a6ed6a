/** What a source's event generator provides: its labels and a deterministic event stream. */

export interface LabelledEvent {
  source: string;
  /** The raw event, valid against the source's raw schema, as a producer would send it. */
  event: Record<string, unknown>;
  /** Ground truth class, for training and evaluation only (never sent to Kafka). */
  label: string;
}

export interface GeneratorOptions {
  seed: number;
  /** Event time of the first event (epoch millis). */
  startTime: number;
  /** Mean gap between consecutive event times of this source (millis). */
  meanGapMs: number;
}

export interface SourceGenerator {
  readonly source: string;
  /** Class names in model output order, majority class first. */
  readonly labels: readonly string[];
  /** A deterministic stream of labelled raw events: same options => same events. */
  create(options: GeneratorOptions): () => LabelledEvent;
}
