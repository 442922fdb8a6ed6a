/**
 * Parsers of option values shared by the commands. They throw commander's
 * InvalidArgumentError, which ends the command with the usage exit code (2).
 */
import { InvalidArgumentError } from 'commander';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `30s`, `15m`, `2h`, `1d` → milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration such as 30s, 15m, 2h or 1d, got "${text}"`);
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/**
 * A point in time: an ISO 8601 date-time (`2026-11-26T07:00:00Z`; without a zone it is
 * local time) or a duration ago (`15m` = 15 minutes before `now`). Never in the future.
 */
export function parseTimeSpec(text: string, now: number): number {
  let at: number;
  if (/^\d+(ms|s|m|h|d)$/.test(text.trim())) at = now - parseDuration(text);
  else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text.trim())) {
    at = Date.parse(text.trim());
  } else at = Number.NaN;
  if (!Number.isFinite(at)) {
    throw new InvalidArgumentError(
      `expected an ISO 8601 time (2026-11-26T07:00:00Z) or a duration ago (15m, 2h, 1d), got "${text}"`,
    );
  }
  if (at > now) throw new InvalidArgumentError(`"${text}" is in the future`);
  return at;
}

export function positiveInteger(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError(`expected a whole number of at least 1, got "${text}"`);
  }
  return Number(text);
}

/** For repeatable options: `--where a=1 --where b=2` → ['a=1', 'b=2']. */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}
