/**
 * What every source's feature definition shares: the region and tier codes, the local
 * hour of an event, typed attribute reading and the ordered feature list builder.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { NormalizedPattern } from '@patternflow/records';
import type { FeatureDefinition } from './contract.ts';

/** Region names in code order (`region_code`): a new region goes at the end, or models must be retrained. */
export const REGIONS = [
  'eu-west',
  'eu-central',
  'us-east',
  'us-west',
  'ap-south',
  'ap-northeast',
  'sa-east',
] as const;

/** UTC offset in hours of each region, for the local time of day. */
const REGION_UTC_OFFSET: Readonly<Record<string, number>> = {
  'eu-west': 0,
  'eu-central': 1,
  'us-east': -5,
  'us-west': -8,
  'ap-south': 5.5,
  'ap-northeast': 9,
  'sa-east': -3,
};

/** Local hour of day (fractional) of an epoch-millis instant in a region. */
export function localHour(epochMillis: number, region: string): number {
  const offset = REGION_UTC_OFFSET[region] ?? 0;
  const hours = epochMillis / 3_600_000 + offset;
  return ((hours % 24) + 24) % 24;
}

const TIER_CODE: Record<string, number> = { enterprise: 0, business: 1, standard: 2, free: 3 };

/** Typed access to a record's attributes for feature functions; every miss is INVALID_FEATURES. */
export class AttributeReader {
  readonly record: NormalizedPattern;
  private readonly modelKey: string;

  constructor(record: NormalizedPattern, modelKey: string) {
    this.record = record;
    this.modelKey = modelKey;
  }

  private fail(path: string, message: string): PipelineError {
    return new PipelineError(
      ErrorCodes.INVALID_FEATURES,
      `${this.modelKey} features: attribute "${path}" ${message}`,
      { details: { id: this.record.id, source: this.record.source, attribute: path } },
    );
  }

  num(path: string): number {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) throw this.fail(path, 'is missing');
    if (typeof v !== 'number') throw this.fail(path, `must be a number, got ${typeof v}`);
    return v;
  }

  /** An optional numeric attribute; `fallback` when absent (null or missing). */
  optNum(path: string, fallback: number): number {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number') throw this.fail(path, `must be a number, got ${typeof v}`);
    return v;
  }

  str(path: string): string {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) throw this.fail(path, 'is missing');
    if (typeof v !== 'string') throw this.fail(path, `must be a string, got ${typeof v}`);
    return v;
  }

  optStr(path: string): string | null {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw this.fail(path, `must be a string, got ${typeof v}`);
    return v;
  }

  bool(path: string): boolean {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) throw this.fail(path, 'is missing');
    if (typeof v !== 'boolean') throw this.fail(path, `must be a boolean, got ${typeof v}`);
    return v;
  }

  /** 1 when present and true, 0 when false, `fallback` when absent. */
  optBool(path: string, fallback: number): number {
    const v = this.record.attributes[path];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw this.fail(path, `must be a boolean, got ${typeof v}`);
    return v ? 1 : 0;
  }

  has(path: string): boolean {
    const v = this.record.attributes[path];
    return v !== undefined && v !== null;
  }

  /** Index of `value` in `categories`, or -1 when it is none of them (trees split -1 off). */
  code(value: string | null, categories: readonly string[]): number {
    return value === null ? -1 : categories.indexOf(value);
  }
}

export type FeatureFn = (r: AttributeReader) => number;

/** Builds a FeatureDefinition from an ordered list of [name, function]. */
export function defineFeatures(
  modelKey: string,
  features: readonly (readonly [string, FeatureFn])[],
): FeatureDefinition {
  const names = Object.freeze(features.map(([name]) => name));
  if (new Set(names).size !== names.length) throw new Error(`${modelKey}: duplicate feature names`);
  return {
    modelKey,
    names,
    extract(record: NormalizedPattern): Float32Array {
      const reader = new AttributeReader(record, modelKey);
      const values = new Float32Array(features.length);
      for (let i = 0; i < features.length; i++) {
        const [name, fn] = features[i]!;
        const v = fn(reader);
        if (!Number.isFinite(v)) {
          throw new PipelineError(ErrorCodes.INVALID_FEATURES, `${modelKey} features: "${name}" is ${v}`, {
            details: { id: record.id, source: record.source, feature: name, value: String(v) },
          });
        }
        values[i] = v;
      }
      return values;
    },
  };
}

/** Shared context features every model gets: tier, region and the local time of day. */
export const contextFeatures: readonly (readonly [string, FeatureFn])[] = [
  ['tier_code', (r) => TIER_CODE[r.record.tier] ?? -1],
  ['region_code', (r) => (REGIONS as readonly string[]).indexOf(r.record.region)],
  ['local_hour', (r) => localHour(r.record.event_time, r.record.region)],
];
