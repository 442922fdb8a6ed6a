/**
 * Shared machinery of the source packs: tenants, regions, timestamp parsing, flattening
 * raw events into typed dotted attributes, and the feature-reading helpers.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type AttributeValue, type NormalizedPattern, TIERS, type Tier } from '@patternflow/records';
import type { FeatureDefinition } from './contract.ts';
import { deriveSeed, Rng } from './prng.ts';

export const REGIONS = [
  'eu-west',
  'eu-central',
  'us-east',
  'us-west',
  'ap-south',
  'ap-northeast',
  'sa-east',
] as const;

/** Country codes a region's customers mostly live in, and the region's UTC offset in hours. */
export const REGION_PROFILE: Record<string, { countries: readonly string[]; utcOffset: number }> = {
  'eu-west': { countries: ['IE', 'GB', 'FR', 'ES', 'PT'], utcOffset: 0 },
  'eu-central': { countries: ['DE', 'AT', 'PL', 'CZ', 'NL'], utcOffset: 1 },
  'us-east': { countries: ['US', 'CA'], utcOffset: -5 },
  'us-west': { countries: ['US', 'MX'], utcOffset: -8 },
  'ap-south': { countries: ['IN', 'SG', 'LK'], utcOffset: 5.5 },
  'ap-northeast': { countries: ['JP', 'KR'], utcOffset: 9 },
  'sa-east': { countries: ['BR', 'AR', 'CL'], utcOffset: -3 },
};

export const FOREIGN_COUNTRIES = [
  'NG',
  'RU',
  'CN',
  'VN',
  'RO',
  'UA',
  'TR',
  'ID',
  'BR',
  'US',
  'GB',
  'DE',
] as const;

export interface Tenant {
  id: string;
  tier: Tier;
  region: string;
}

/**
 * A fixed tenant population per source. It depends on the source name only, not on the
 * run's seed, so tenant ids stay the same across training, evaluation and load runs.
 */
export function tenantPool(source: string, prefix: string, count: number): Tenant[] {
  const rng = new Rng(deriveSeed(0x7e4a47, source));
  const tenants: Tenant[] = [];
  for (let i = 0; i < count; i++) {
    tenants.push({
      id: `${prefix}${rng.hex(6)}`,
      tier: rng.weighted<Tier>([
        ['enterprise', 1],
        ['business', 2.5],
        ['standard', 4],
        ['free', 2.5],
      ]),
      region: rng.pick(REGIONS),
    });
  }
  return tenants;
}

/**
 * A source's event stream: events arrive as a Poisson process (exponential gaps of mean
 * `meanGapMs`) from the source's fixed tenant population.
 */
export function poissonEventStream<E>(
  source: string,
  tenantPrefix: string,
  tenantCount: number,
  options: { seed: number; startTime: number; meanGapMs: number },
  generate: (rng: Rng, tenants: Tenant[], at: number) => E,
): () => E {
  const rng = new Rng(options.seed);
  const tenants = tenantPool(source, tenantPrefix, tenantCount);
  let clock = options.startTime;
  return () => {
    clock += rng.exponential(options.meanGapMs);
    return generate(rng, tenants, Math.round(clock));
  };
}

/** Tenants differ in volume (a few big ones send most events), as real traffic does. */
export function pickTenant(rng: Rng, tenants: readonly Tenant[]): Tenant {
  const i = Math.floor(tenants.length * rng.next() ** 2);
  return tenants[Math.min(i, tenants.length - 1)]!;
}

/** Local hour of day (fractional) of an epoch-millis instant in a region. */
export function localHour(epochMillis: number, region: string): number {
  const offset = REGION_PROFILE[region]?.utcOffset ?? 0;
  const hours = epochMillis / 3_600_000 + offset;
  return ((hours % 24) + 24) % 24;
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

// ---------- normalize helpers ----------

function invalid(source: string, field: string, message: string, value: unknown): PipelineError {
  return new PipelineError(ErrorCodes.INVALID_FIELD, `${source}: ${field} ${message}`, {
    details: { source, field, value },
  });
}

function missing(source: string, field: string): PipelineError {
  return new PipelineError(ErrorCodes.MISSING_FIELD, `${source}: ${field} is missing`, {
    details: { source, field },
  });
}

/** Reads a value at a dotted path of a raw event (records may be nested). */
export function rawAt(raw: Record<string, unknown>, path: string): unknown {
  let cur: unknown = raw;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function requireString(source: string, raw: Record<string, unknown>, path: string): string {
  const value = rawAt(raw, path);
  if (value === undefined || value === null) throw missing(source, path);
  if (typeof value !== 'string') throw invalid(source, path, `must be a string, got ${typeof value}`, value);
  if (value.trim() === '') throw invalid(source, path, 'must not be empty', value);
  return value;
}

export function requireTier(source: string, raw: Record<string, unknown>, path: string): Tier {
  const value = requireString(source, raw, path);
  if (!(TIERS as readonly string[]).includes(value)) {
    throw invalid(source, path, `"${value}" is not a tier (expected one of ${TIERS.join('|')})`, value);
  }
  return value as Tier;
}

export function requireRegion(source: string, raw: Record<string, unknown>, path: string): string {
  const value = requireString(source, raw, path);
  if (!/^[a-z]{2,}-[a-z]+(-?\d+)?$/.test(value)) {
    throw invalid(source, path, `"${value}" is not a region name like eu-west or us-east-1`, value);
  }
  return value;
}

/** Plausible event times: after 2000-01-01 and before 2100-01-01. */
const MIN_TIME = 946_684_800_000;
const MAX_TIME = 4_102_444_800_000;

function checkTime(source: string, path: string, millis: number, original: unknown): number {
  if (!Number.isFinite(millis) || millis < MIN_TIME || millis > MAX_TIME) {
    throw invalid(source, path, `is not a plausible timestamp (${String(original)})`, original);
  }
  return Math.trunc(millis);
}

/** ISO-8601 with an explicit offset or Z (no locale-dependent formats). */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export function isoTimeMillis(source: string, raw: Record<string, unknown>, path: string): number {
  const value = requireString(source, raw, path);
  if (!ISO_8601.test(value)) {
    throw invalid(source, path, `"${value}" is not an ISO-8601 timestamp with a zone`, value);
  }
  return checkTime(source, path, Date.parse(value), value);
}

export function epochMillis(source: string, raw: Record<string, unknown>, path: string): number {
  const value = rawAt(raw, path);
  if (value === undefined || value === null) throw missing(source, path);
  if (typeof value !== 'number')
    throw invalid(source, path, `must be epoch millis, got ${typeof value}`, value);
  return checkTime(source, path, value, value);
}

export function epochSecondsToMillis(source: string, raw: Record<string, unknown>, path: string): number {
  const value = rawAt(raw, path);
  if (value === undefined || value === null) throw missing(source, path);
  if (typeof value !== 'number')
    throw invalid(source, path, `must be epoch seconds, got ${typeof value}`, value);
  return checkTime(source, path, value * 1000, value);
}

/**
 * Flattens a raw event into typed attributes with dotted paths: nested records become
 * `a.b.c`, nulls stay null (an absent optional field), arrays are kept as JSON text.
 * Avro-decoded values (class instances, Buffers for bytes) flatten the same as JSON.
 */
export function flattenAttributes(raw: Record<string, unknown>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  const walk = (value: unknown, path: string): void => {
    if (value === null || value === undefined) out[path] = null;
    else if (typeof value === 'number') out[path] = value;
    else if (typeof value === 'string' || typeof value === 'boolean') out[path] = value;
    else if (typeof value === 'bigint') out[path] = Number(value);
    else if (Buffer.isBuffer(value)) out[path] = value.toString('base64');
    else if (Array.isArray(value)) out[path] = JSON.stringify(value);
    else if (typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) walk(child, path === '' ? key : `${path}.${key}`);
    } else out[path] = String(value);
  };
  walk(raw, '');
  return out;
}

// ---------- feature helpers ----------

export const TIER_CODE: Record<string, number> = { enterprise: 0, business: 1, standard: 2, free: 3 };

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
