/**
 * The one error type of patternflow. Whether a failure is retried, dead-lettered or
 * ends the process is decided from `code` and `retriable`, never from the message.
 * A record's DLQ reason header is its error's code.
 */
export const ErrorCodes = {
  // bad input: the record goes to the DLQ, the service keeps running
  VALUE_EMPTY: 'PF_VALUE_EMPTY',
  VALUE_OVERSIZED: 'PF_VALUE_OVERSIZED',
  VALUE_NOT_DECODABLE: 'PF_VALUE_NOT_DECODABLE',
  UNKNOWN_SCHEMA_ID: 'PF_UNKNOWN_SCHEMA_ID',
  SCHEMA_VIOLATION: 'PF_SCHEMA_VIOLATION',
  MISSING_FIELD: 'PF_MISSING_FIELD',
  INVALID_FIELD: 'PF_INVALID_FIELD',
  UNKNOWN_SOURCE: 'PF_UNKNOWN_SOURCE',
  MODEL_MISSING: 'PF_MODEL_MISSING',
  INVALID_FEATURES: 'PF_INVALID_FEATURES',
  NO_ROUTE: 'PF_NO_ROUTE',
  SINK_REJECTED: 'PF_SINK_REJECTED',
  // the process cannot run as configured: it exits non-zero
  CONFIG_INVALID: 'PF_CONFIG_INVALID',
  POLICY_INVALID: 'PF_POLICY_INVALID',
  MODEL_INTEGRITY: 'PF_MODEL_INTEGRITY',
  MODEL_LOAD: 'PF_MODEL_LOAD',
  // onnxruntime failed on validated input: the runtime is broken, not the record
  INFERENCE_FAILED: 'PF_INFERENCE_FAILED',
  // a dependency misbehaved: retried, then the process exits so that it restarts clean
  REGISTRY_UNAVAILABLE: 'PF_REGISTRY_UNAVAILABLE',
  KAFKA: 'PF_KAFKA',
  SINK_WRITE: 'PF_SINK_WRITE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Codes whose record is dead-lettered rather than retried. */
const RECORD_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.VALUE_EMPTY,
  ErrorCodes.VALUE_OVERSIZED,
  ErrorCodes.VALUE_NOT_DECODABLE,
  ErrorCodes.UNKNOWN_SCHEMA_ID,
  ErrorCodes.SCHEMA_VIOLATION,
  ErrorCodes.MISSING_FIELD,
  ErrorCodes.INVALID_FIELD,
  ErrorCodes.UNKNOWN_SOURCE,
  ErrorCodes.MODEL_MISSING,
  ErrorCodes.INVALID_FEATURES,
  ErrorCodes.NO_ROUTE,
  ErrorCodes.SINK_REJECTED,
]);

export interface PipelineErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }
}

/** True when the error is about one record's content: dead-letter it and go on. */
export function isRecordError(error: unknown): error is PipelineError {
  return error instanceof PipelineError && RECORD_CODES.has(error.code);
}
