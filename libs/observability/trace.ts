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

// crypto.randomBytes per record cost up to a tenth of a stage's CPU (profile in
// docs/performance.md): draw random hex from a pool refilled 4 KiB at a time instead.
const POOL_BYTES = 4096;
let pool = '';
let poolAt = 0;

function randomHex(bytes: number): string {
  const chars = bytes * 2;
  if (poolAt + chars > pool.length) {
    pool = randomBytes(POOL_BYTES).toString('hex');
    poolAt = 0;
  }
  const hex = pool.slice(poolAt, poolAt + chars);
  poolAt += chars;
  return hex;
}

/**
 * The traceparent a stage writes on its output: the same trace as the input, a new span
 * id for this hop; a fresh trace when the input had none (or a malformed one).
 */
export function nextTraceparent(incoming: string | undefined): string {
  const parent = parseTraceparent(incoming);
  const traceId = parent?.traceId ?? randomHex(16);
  const flags = parent?.flags ?? '01';
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}
