/**
 * Raw event → canonical core, declared once per source as a table (canonical field → path
 * in the raw event + how to read it) and interpreted here. Every source reads its fields
 * with the same readers, so the error codes and messages are the same for all of them:
 * `<source>: <path> …`, MISSING_FIELD when absent, INVALID_FIELD when unusable.
 */
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { type AttributeValue, TIERS } from '@patternflow/records';
import type { NormalizedCore } from './contract.ts';

/** How a raw value becomes a canonical one. */
export type FieldReading = 'string' | 'tier' | 'region' | 'iso-8601' | 'epoch-millis' | 'epoch-seconds';

export interface FieldRule<R extends FieldReading> {
  /** Dotted path in the raw event (nested records are walked). */
  readonly from: string;
  readonly as: R;
}

/**
 * One source's mapping. `source` and `kind` are constants of the source, `attributes` is
 * always every raw field flattened to dotted paths; the rest is read from the raw event.
 */
export interface CanonicalMapping {
  readonly source: string;
  readonly kind: string;
  readonly fields: {
    readonly id: FieldRule<'string'>;
    readonly event_time: FieldRule<'iso-8601' | 'epoch-millis' | 'epoch-seconds'>;
    readonly tenant: FieldRule<'string'>;
    readonly tier: FieldRule<'tier'>;
    readonly region: FieldRule<'region'>;
  };
}

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
const REGION_NAME = /^[a-z]{2,}-[a-z]+(-?\d+)?$/;

type Reader = (source: string, path: string, value: unknown) => string | number;

function readString(source: string, path: string, value: unknown): string {
  if (value === undefined || value === null) throw missing(source, path);
  if (typeof value !== 'string') throw invalid(source, path, `must be a string, got ${typeof value}`, value);
  if (value.trim() === '') throw invalid(source, path, 'must not be empty', value);
  return value;
}

function readNumber(source: string, path: string, value: unknown, unit: string): number {
  if (value === undefined || value === null) throw missing(source, path);
  if (typeof value !== 'number') throw invalid(source, path, `must be ${unit}, got ${typeof value}`, value);
  return value;
}

const READERS: Readonly<Record<FieldReading, Reader>> = {
  string: readString,
  tier(source, path, raw) {
    const value = readString(source, path, raw);
    if (!(TIERS as readonly string[]).includes(value)) {
      throw invalid(source, path, `"${value}" is not a tier (expected one of ${TIERS.join('|')})`, value);
    }
    return value;
  },
  region(source, path, raw) {
    const value = readString(source, path, raw);
    if (!REGION_NAME.test(value)) {
      throw invalid(source, path, `"${value}" is not a region name like eu-west or us-east-1`, value);
    }
    return value;
  },
  'iso-8601'(source, path, raw) {
    const value = readString(source, path, raw);
    if (!ISO_8601.test(value)) {
      throw invalid(source, path, `"${value}" is not an ISO-8601 timestamp with a zone`, value);
    }
    return checkTime(source, path, Date.parse(value), value);
  },
  'epoch-millis'(source, path, raw) {
    const value = readNumber(source, path, raw, 'epoch millis');
    return checkTime(source, path, value, value);
  },
  'epoch-seconds'(source, path, raw) {
    const value = readNumber(source, path, raw, 'epoch seconds');
    return checkTime(source, path, value * 1000, value);
  },
};

/** Compiles one rule into a function of the raw event (the path is split once, not per record). */
function compileRule<T extends string | number>(
  source: string,
  rule: FieldRule<FieldReading>,
): (raw: Record<string, unknown>) => T {
  const parts = rule.from.split('.');
  const read = READERS[rule.as];
  return (raw) => {
    let value: unknown = raw;
    for (const part of parts) {
      if (value === null || typeof value !== 'object') {
        value = undefined;
        break;
      }
      value = (value as Record<string, unknown>)[part];
    }
    return read(source, rule.from, value) as T;
  };
}

/**
 * The one interpreter of mappings. Fields are read in a fixed order (id, event_time,
 * tenant, tier, region), so a record with several bad fields always reports the same one.
 */
export function createNormalizer(
  mapping: CanonicalMapping,
): (raw: Record<string, unknown>) => NormalizedCore {
  const { source, kind, fields } = mapping;
  const id = compileRule<string>(source, fields.id);
  const eventTime = compileRule<number>(source, fields.event_time);
  const tenant = compileRule<string>(source, fields.tenant);
  const tier = compileRule<string>(source, fields.tier);
  const region = compileRule<string>(source, fields.region);
  return (raw) => ({
    id: id(raw),
    source,
    kind,
    event_time: eventTime(raw),
    tenant: tenant(raw),
    tier: tier(raw),
    region: region(raw),
    attributes: flattenAttributes(raw),
  });
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
