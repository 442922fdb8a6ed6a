/**
 * `--key` and `--where path=value` of `tail`: which records to show. All filters must match.
 */
import { CliError, ExitCodes } from '../exit.ts';
import type { ShownRecord } from './render.ts';

export interface WhereFilter {
  /** Dot path into the decoded value, e.g. ["attributes", "merchant"]. */
  readonly path: readonly string[];
  readonly expected: string;
}

export interface RecordFilter {
  readonly key?: string;
  readonly where: readonly WhereFilter[];
}

/** `attributes.merchant=acme` → { path: ['attributes','merchant'], expected: 'acme' }. */
export function parseWhere(text: string): WhereFilter {
  const at = text.indexOf('=');
  const path = at > 0 ? text.slice(0, at).split('.') : [];
  if (path.length === 0 || path.some((part) => part === '')) {
    throw new CliError(
      ExitCodes.USAGE,
      `--where takes path=value with a dot path into the value (e.g. attributes.merchant=acme), got "${text}"`,
    );
  }
  return { path, expected: text.slice(at + 1) };
}

/** The value at `path`, reading own properties only (a path never reaches a prototype). */
export function valueAt(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const part of path) {
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** How a decoded field compares with `expected`: strings as they are, anything else as JSON. */
function asText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function matchesFilter(record: ShownRecord, filter: RecordFilter): boolean {
  if (filter.key !== undefined && record.key !== filter.key) return false;
  if (filter.where.length === 0) return true;
  if (record.format !== 'avro' && record.format !== 'json') return false;
  return filter.where.every(({ path, expected }) => {
    const found = valueAt(record.value, path);
    return found !== undefined && asText(found) === expected;
  });
}
