/**
 * kafkajs's failures as PipelineErrors, mapped here once, by kafkajs's own error classes
 * and protocol error types, so that the runner decides from a code (libs/errors) like
 * everywhere else.
 */
import { certificateFailureOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import kafkajs from 'kafkajs';

// kafkajs spreads its error classes into module.exports, which Node's ESM loader cannot
// see as named exports: take them from the default (CommonJS) export.
const {
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNotImplemented,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} = kafkajs;

/**
 * Protocol error types that mean the group moved on without this member: kafkajs rejoins,
 * and a chunk left unresolved is replayed by the partition's owner. UNKNOWN_MEMBER_ID is
 * what a session that expired while a chunk waited gets.
 */
const REBALANCE_TYPES: ReadonlySet<string> = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

/** Protocol error types of a SASL exchange the broker refused. */
const AUTH_TYPES: ReadonlySet<string> = new Set(['SASL_AUTHENTICATION_FAILED', 'UNSUPPORTED_SASL_MECHANISM']);

/** The error itself and what it wraps: kafkajs's retriers wrap the failure they gave up on. */
function* chainOf(error: unknown): Generator<unknown> {
  let current = error;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

const isAuthFailure = (error: unknown): boolean =>
  error instanceof KafkaJSSASLAuthenticationError ||
  (error instanceof KafkaJSProtocolError && AUTH_TYPES.has(error.type));

/**
 * The PipelineError for a kafkajs error (its cause): KAFKA_AUTH (the broker refused the SASL
 * credentials) and KAFKA_TLS (its certificate failed verification) first, wherever they sit
 * in kafkajs's wrapping, since kafkajs retries a certificate failure as a connection error
 * and gives up with "retries exceeded"; then KAFKA_REBALANCE, KAFKA_UNAVAILABLE
 * (unreachable, timed out, kafkajs's own retries exhausted, or any error kafkajs flags as
 * retriable), otherwise KAFKA (fatal: e.g. a compression codec that is not registered).
 * Undefined when `error` is not a kafkajs error.
 */
export function kafkaFailure(error: unknown): PipelineError | undefined {
  if (!(error instanceof KafkaJSError)) return undefined;
  const type = error instanceof KafkaJSProtocolError ? error.type : undefined;
  const what = `${error.name}${type === undefined ? '' : ` ${type}`}: ${error.message}`;
  const refused = [...chainOf(error)].find(isAuthFailure) as Error | undefined;
  if (refused !== undefined) {
    return new PipelineError(
      ErrorCodes.KAFKA_AUTH,
      `Kafka refused the SASL credentials (${refused.name}: ${refused.message}): check PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD or PF_KAFKA_SASL_PASSWORD_FILE, and PF_KAFKA_SASL_MECHANISM`,
      { cause: error },
    );
  }
  const certificate = certificateFailureOf(error);
  if (certificate !== undefined) {
    const broker = [...chainOf(error)].map((e) => (e as { broker?: unknown }).broker).find(Boolean);
    return new PipelineError(
      ErrorCodes.KAFKA_TLS,
      `the TLS certificate of Kafka broker ${String(broker ?? '(unknown)')} failed verification (${certificate}: ${error.message}): PF_KAFKA_SSL_CA_FILE must hold the CA that signed it, and it must name the host in PF_KAFKA_BROKERS`,
      { cause: error, details: { certificate, ...(broker === undefined ? {} : { broker }) } },
    );
  }
  if (type !== undefined && REBALANCE_TYPES.has(type)) {
    return new PipelineError(ErrorCodes.KAFKA_REBALANCE, `consumer group rebalance (${what})`, {
      cause: error,
      details: { type },
    });
  }
  // KafkaJSNumberOfRetriesExceeded is flagged non-retriable (kafkajs will not retry it
  // again), but the outage behind it may end: the runner retries the chunk with backoff.
  if (
    error.retriable ||
    error instanceof KafkaJSNumberOfRetriesExceeded ||
    error instanceof KafkaJSConnectionError ||
    error instanceof KafkaJSRequestTimeoutError
  ) {
    return new PipelineError(ErrorCodes.KAFKA_UNAVAILABLE, `Kafka unavailable (${what})`, {
      cause: error,
      ...(type === undefined ? {} : { details: { type } }),
    });
  }
  return new PipelineError(ErrorCodes.KAFKA, `Kafka failed (${what})`, {
    cause: error,
    ...(type === undefined ? {} : { details: { type } }),
  });
}

/**
 * Whether a consumer failure that no handler threw means kafkajs could not read a fetched
 * batch: a codec it does not have, a batch the broker marks corrupt, or anything thrown
 * from outside kafkajs's own error classes while decoding (a codec library, a decoder that
 * trips over garbage). Connection, timeout, rebalance and authorization failures are not.
 */
export function isUnreadableBatch(error: unknown): boolean {
  // kafkajs retries a fetch that failed in a way it does not recognise, then gives up with
  // KafkaJSNumberOfRetriesExceeded (and restarts the consumer into the same failure): what
  // decides is the error it kept retrying.
  let current = error;
  for (let depth = 0; depth < 5 && current instanceof KafkaJSNumberOfRetriesExceeded; depth++) {
    current = (current as { cause?: unknown }).cause;
  }
  if (current instanceof KafkaJSNotImplemented) return true;
  if (current instanceof KafkaJSProtocolError) return current.type === 'CORRUPT_MESSAGE';
  return current !== undefined && !(current instanceof KafkaJSError);
}
