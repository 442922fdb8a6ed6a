import { randomBytes } from 'node:crypto';

/** W3C trace context (https://www.w3.org/TR/trace-context/) carried in the `traceparent` Kafka header. */
export const TRACEPARENT = 'traceparent';

const TRACEPARENT_PATTERN = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
}

export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (!value) return undefined;
  const match = TRACEPARENT_PATTERN.exec(value.trim());
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return undefined;
  return { traceId: match[1]!, spanId: match[2]!, flags: match[3]! };
}

/**
 * The traceparent a stage writes on its output: the same trace as the input, a new span
 * id for this hop; a fresh trace when the input had none (or a malformed one).
 */
export function nextTraceparent(incoming: string | undefined): string {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomBytes(16).toString('hex');
  const flags = parent?.flags ?? '01';
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}
