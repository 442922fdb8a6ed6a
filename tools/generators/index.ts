/**
 * @patternflow/generators: seeded, labelled raw events per source, for training,
 * evaluation, load generation, the benchmark and tests. Same options => same events,
 * byte for byte: the committed models were trained on them (generators.test.ts pins a
 * digest). Production code never imports this package.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { NormalizedPattern } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';
import { authGenerator } from './auth.ts';
import type { LabelledEvent, SourceGenerator } from './contract.ts';
import { netflowGenerator } from './netflow.ts';
import { paymentsGenerator } from './payments.ts';
import { deriveSeed, Rng } from './prng.ts';
import { type DistributionShift, shiftEvent, shiftProblem } from './shift.ts';

export type { GeneratorOptions, LabelledEvent, SourceGenerator } from './contract.ts';
export { type DistributionShift, parseShift } from './shift.ts';

/** One generator per source, in the order of @patternflow/sources' sourceNames(). */
const GENERATORS: readonly SourceGenerator[] = [paymentsGenerator, authGenerator, netflowGenerator];
const BY_NAME: ReadonlyMap<string, SourceGenerator> = new Map(GENERATORS.map((g) => [g.source, g]));

export function generatorNames(): string[] {
  return GENERATORS.map((g) => g.source);
}

/** A source's generator (its labels, its event stream). */
export function getSourceGenerator(source: string): SourceGenerator | undefined {
  return BY_NAME.get(source);
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
  /** Moves the events (shift.ts): new countries, scaled amounts, another class mix. */
  shift?: DistributionShift;
}

/**
 * A deterministic stream of labelled raw events. Same options => same events. Each source
 * draws from its own stream (derived from seed and source name) and a separate stream
 * picks the interleaving, so one source's events do not depend on the mix.
 */
export function* generateEvents(options: GenerateOptions): Generator<LabelledEvent> {
  const names = options.sources ?? generatorNames();
  if (names.length === 0)
    throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, 'generateEvents: no sources given');
  const streams = names.map((name) => {
    const generator = BY_NAME.get(name);
    if (!generator) {
      throw new PipelineError(ErrorCodes.UNKNOWN_SOURCE, `generateEvents: unknown source "${name}"`, {
        details: { source: name, known: generatorNames() },
      });
    }
    return generator.create({
      seed: deriveSeed(options.seed, name),
      startTime: options.startTime ?? DEFAULT_START_TIME,
      meanGapMs: options.meanGapMs ?? DEFAULT_MEAN_GAP_MS,
    });
  });
  const shift = options.shift;
  const problem = shift && shiftProblem(shift);
  if (problem) throw new PipelineError(ErrorCodes.CONFIG_INVALID, `generateEvents: ${problem}`);
  const shifted = streams.map((next, k) => {
    if (!shift) return next;
    // The shift's own stream per source: the events underneath are the unshifted ones.
    const rng = new Rng(deriveSeed(options.seed, `${names[k]}#shift`));
    return () => {
      for (;;) {
        const event = shiftEvent(next(), shift, rng);
        if (event) return event;
      }
    };
  });
  const mix = new Rng(deriveSeed(options.seed, '#mix'));
  for (let i = 0; i < options.count; i++) {
    const next = shifted.length === 1 ? shifted[0]! : shifted[Math.floor(mix.next() * shifted.length)]!;
    yield next();
  }
}

export interface CanonicalOptions {
  ingestTime?: number;
  payloadFormat?: 'JSON' | 'AVRO';
  payloadSchemaId?: number | null;
}

/**
 * Raw event -> full canonical record, as the ingestor builds it from JSON input (training,
 * evaluation, the benchmark, tests). Throws PipelineError UNKNOWN_SOURCE / INVALID_FIELD /
 * MISSING_FIELD.
 */
export function toNormalizedPattern(
  source: string,
  raw: Record<string, unknown>,
  options: CanonicalOptions = {},
): NormalizedPattern {
  const adapter = getSourceAdapter(source);
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
