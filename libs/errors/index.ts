/**
 * The one error type of patternflow. What a failure does — dead-letter the record, retry
 * the chunk, or stop the process — is a property of its code, decided by the table below
 * and nowhere else; never by the message. A record's DLQ reason header is its error's code.
 */

/**
 * - `dead-letter`: the record is bad; it goes to the DLQ and the stage goes on.
 * - `retry`: a dependency is unavailable; the stage pauses, backs off and retries the chunk.
 * - `fatal`: the process cannot run as configured (or hit a bug); it exits 1 so that its
 *   supervisor restarts it clean.
 */
export type Disposition = 'dead-letter' | 'retry' | 'fatal';

/** Every code, once, with its disposition. docs/architecture.md lists the same table. */
const CODE_TABLE = {
  // the record itself is bad
  VALUE_EMPTY: { code: 'PF_VALUE_EMPTY', disposition: 'dead-letter' },
  VALUE_OVERSIZED: { code: 'PF_VALUE_OVERSIZED', disposition: 'dead-letter' },
  VALUE_NOT_DECODABLE: { code: 'PF_VALUE_NOT_DECODABLE', disposition: 'dead-letter' },
  /** Hostile rather than wrong: JSON nested deeper than the ingestor's limit (32 levels). */
  VALUE_TOO_DEEP: { code: 'PF_VALUE_TOO_DEEP', disposition: 'dead-letter' },
  /** An object with too many keys or an array with too many items (10 000). */
  VALUE_TOO_WIDE: { code: 'PF_VALUE_TOO_WIDE', disposition: 'dead-letter' },
  /** A string longer than 64 Ki characters or a number literal longer than 64. */
  VALUE_TOO_LONG: { code: 'PF_VALUE_TOO_LONG', disposition: 'dead-letter' },
  /** A key named __proto__, constructor or prototype, which can reach object prototypes. */
  VALUE_FORBIDDEN_KEY: { code: 'PF_VALUE_FORBIDDEN_KEY', disposition: 'dead-letter' },
  UNKNOWN_SCHEMA_ID: { code: 'PF_UNKNOWN_SCHEMA_ID', disposition: 'dead-letter' },
  SCHEMA_VIOLATION: { code: 'PF_SCHEMA_VIOLATION', disposition: 'dead-letter' },
  MISSING_FIELD: { code: 'PF_MISSING_FIELD', disposition: 'dead-letter' },
  INVALID_FIELD: { code: 'PF_INVALID_FIELD', disposition: 'dead-letter' },
  UNKNOWN_SOURCE: { code: 'PF_UNKNOWN_SOURCE', disposition: 'dead-letter' },
  MODEL_MISSING: { code: 'PF_MODEL_MISSING', disposition: 'dead-letter' },
  INVALID_FEATURES: { code: 'PF_INVALID_FEATURES', disposition: 'dead-letter' },
  /** PostgreSQL refused the row (SQLSTATE class 22 or 23), or its payload cannot go into a cold file. */
  SINK_REJECTED: { code: 'PF_SINK_REJECTED', disposition: 'dead-letter' },
  /**
   * Something that is not a PipelineError was thrown while one record was handled (a
   * TypeError, a RangeError such as a stack overflow on a deeply nested value, a library's
   * own error): that record is dead-lettered instead of failing the chunk over and over.
   */
  RECORD_UNEXPECTED: { code: 'PF_RECORD_UNEXPECTED', disposition: 'dead-letter' },
  /**
   * The routing decision sends a record of a restricted region to a lane the policy's
   * `regions:` forbids it. The validator proves this cannot happen; this is the run-time net.
   */
  REGION_FORBIDDEN: { code: 'PF_REGION_FORBIDDEN', disposition: 'dead-letter' },
  /** A patterns.feedback message that is not {id, label, source?, at?} with the right types and sizes. */
  FEEDBACK_INVALID: { code: 'PF_FEEDBACK_INVALID', disposition: 'dead-letter' },

  // a dependency is unavailable: retried with backoff until it answers
  REGISTRY_UNAVAILABLE: { code: 'PF_REGISTRY_UNAVAILABLE', disposition: 'retry' },
  /** Kafka unreachable, a request timed out, or kafkajs gave up its own retries. */
  KAFKA_UNAVAILABLE: { code: 'PF_KAFKA_UNAVAILABLE', disposition: 'retry' },
  /** The consumer group is rebalancing: kafkajs rejoins and the chunk is replayed, unresolved. */
  KAFKA_REBALANCE: { code: 'PF_KAFKA_REBALANCE', disposition: 'retry' },
  /** PostgreSQL or the cold directory is unreachable or out of resources; the transaction rolled back. */
  SINK_UNAVAILABLE: { code: 'PF_SINK_UNAVAILABLE', disposition: 'retry' },
  /** COMMIT failed without an answer: the sink reconciles its cold files before the next batch. */
  SINK_COMMIT_UNKNOWN: { code: 'PF_SINK_COMMIT_UNKNOWN', disposition: 'retry' },

  // the process cannot run as configured
  CONFIG_INVALID: { code: 'PF_CONFIG_INVALID', disposition: 'fatal' },
  POLICY_INVALID: { code: 'PF_POLICY_INVALID', disposition: 'fatal' },
  /** A model version's bytes or manifest do not match (sha256, name/version vs its directory). */
  MODEL_INTEGRITY: { code: 'PF_MODEL_INTEGRITY', disposition: 'fatal' },
  /** A model version's manifest.sig is missing or does not verify with the trusted public key. */
  MODEL_SIGNATURE: { code: 'PF_MODEL_SIGNATURE', disposition: 'fatal' },
  MODEL_LOAD: { code: 'PF_MODEL_LOAD', disposition: 'fatal' },
  /** onnxruntime failed on validated input: the runtime is broken, not the record. */
  INFERENCE_FAILED: { code: 'PF_INFERENCE_FAILED', disposition: 'fatal' },
  /** Kafka refused something no retry fixes (a missing compression codec, an authorization). */
  KAFKA: { code: 'PF_KAFKA', disposition: 'fatal' },
  /** The broker refused the SASL credentials (or the mechanism): a restart would be refused the same way. */
  KAFKA_AUTH: { code: 'PF_KAFKA_AUTH', disposition: 'fatal' },
  /** The broker's certificate is not trusted by PF_KAFKA_SSL_CA_FILE, or does not name the host. */
  KAFKA_TLS: { code: 'PF_KAFKA_TLS', disposition: 'fatal' },
  /** The schema registry answered 401 or 403 to the configured basic-auth credentials. */
  REGISTRY_AUTH: { code: 'PF_REGISTRY_AUTH', disposition: 'fatal' },
  /** The registry's certificate is not trusted by PF_REGISTRY_CA_FILE, or does not name the host. */
  REGISTRY_TLS: { code: 'PF_REGISTRY_TLS', disposition: 'fatal' },
  /** PostgreSQL refused the credentials of PF_PG_URL (SQLSTATE class 28). */
  SINK_AUTH: { code: 'PF_SINK_AUTH', disposition: 'fatal' },
  /** PostgreSQL's certificate is not trusted by PF_PG_CA_FILE or does not name the host, or it offers no TLS. */
  SINK_TLS: { code: 'PF_SINK_TLS', disposition: 'fatal' },
  /** PostgreSQL or the cold directory refuses the sink's work for good (missing table, permissions). */
  SINK_FAILED: { code: 'PF_SINK_FAILED', disposition: 'fatal' },
} as const satisfies Record<string, { code: `PF_${string}`; disposition: Disposition }>;

type CodeTable = typeof CODE_TABLE;

export const ErrorCodes = Object.freeze(
  Object.fromEntries(Object.entries(CODE_TABLE).map(([name, entry]) => [name, entry.code])),
) as { readonly [Name in keyof CodeTable]: CodeTable[Name]['code'] };

export type ErrorCode = CodeTable[keyof CodeTable]['code'];

const DISPOSITIONS: ReadonlyMap<string, Disposition> = new Map(
  Object.values(CODE_TABLE).map((entry) => [entry.code, entry.disposition]),
);

export interface PipelineErrorOptions {
  cause?: unknown;
  /** Context for the logs (the runner logs it with every dead letter); control flow never reads it. */
  details?: Record<string, unknown>;
}

export class PipelineError extends Error {
  override readonly name: string = 'PipelineError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/**
 * What a failure does, from its code. Anything that is not a PipelineError is fatal: a
 * failure nobody mapped is a bug, and a restart is safer than guessing. Per-record code
 * turns such errors into dead letters first (see recordFailure).
 */
export function dispositionOf(error: unknown): Disposition {
  return (error instanceof PipelineError && DISPOSITIONS.get(error.code)) || 'fatal';
}

/**
 * For a catch around the handling of ONE record: the error to dead-letter that record
 * with, or undefined when the failure is not the record's (retry or fatal: rethrow it and
 * fail the chunk). A dead-letter PipelineError is returned as it is; anything that is not
 * a PipelineError becomes RECORD_UNEXPECTED, naming the original error, so that one
 * hostile record cannot stop a stage.
 */
export function recordFailure(error: unknown): PipelineError | undefined {
  if (error instanceof PipelineError) return dispositionOf(error) === 'dead-letter' ? error : undefined;
  return new PipelineError(ErrorCodes.RECORD_UNEXPECTED, `unexpected ${describe(error)}`, { cause: error });
}

/**
 * Node's codes for a TLS peer whose certificate failed verification (OpenSSL's X509 errors
 * and Node's host name check): a configuration problem on one side or the other, which no
 * retry fixes.
 */
const CERTIFICATE_FAILURES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The Node code of a certificate verification failure found in `error` or its causes
 * (clients wrap the socket's error once or twice), or undefined when there is none.
 */
export function certificateFailureOf(error: unknown): string | undefined {
  let current = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_FAILURES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return `thrown ${typeof error}: ${String(error)}`;
  } catch {
    // an object without toString (Object.create(null)) cannot be turned into a string
    return `thrown ${typeof error}`;
  }
}
