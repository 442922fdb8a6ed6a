import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import kafkajs from 'kafkajs';
import { kafkaFailure } from './kafka-errors.ts';

const {
  KafkaJSConnectionError,
  KafkaJSNotImplemented,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} = kafkajs;

/** A protocol error as kafkajs builds it from a broker's error code. */
const protocolError = (type: string, code: number, retriable: boolean) =>
  new KafkaJSProtocolError(Object.assign(new Error(`broker says ${type}`), { type, code, retriable }));

/** kafkajs's typings declare some constructors without arguments; the classes take a message. */
const withMessage = <T>(Class: new () => T, message: string): T =>
  new (Class as unknown as new (message: string) => T)(message);

/** What kafkajs's retrier throws when it gives up: the last failure as the cause (kafkajs's typings omit it). */
const retriesExceeded = (cause: Error) =>
  new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 8, retryTime: 10_000, cause } as never);

function mapped(error: unknown): PipelineError {
  const failure = kafkaFailure(error);
  assert.ok(failure instanceof PipelineError, `mapped ${String(error)}`);
  assert.equal(failure.cause, error, 'the kafkajs error is the cause');
  return failure;
}

test('an unreachable broker, a timeout, or kafkajs giving up its retries is KAFKA_UNAVAILABLE: retried', () => {
  const refused = new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1', {
    broker: '127.0.0.1:1',
    code: 'ECONNREFUSED',
  });
  for (const error of [
    refused,
    new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'),
    // flagged non-retriable by kafkajs (it will not retry again), but the outage may end
    new KafkaJSNumberOfRetriesExceeded(refused, { retryCount: 8, retryTime: 5000 }),
    protocolError('LEADER_NOT_AVAILABLE', 5, true),
  ]) {
    const failure = mapped(error);
    assert.equal(failure.code, ErrorCodes.KAFKA_UNAVAILABLE, error.message);
    assert.equal(dispositionOf(failure), 'retry');
    assert.match(failure.message, new RegExp(error.name));
  }
});

test('group rebalance types are KAFKA_REBALANCE, never fatal', () => {
  for (const [type, code, retriable] of [
    ['REBALANCE_IN_PROGRESS', 27, false],
    ['NOT_COORDINATOR_FOR_GROUP', 16, true],
    ['ILLEGAL_GENERATION', 22, false],
    ['UNKNOWN_MEMBER_ID', 25, false],
  ] as const) {
    const failure = mapped(protocolError(type, code, retriable));
    assert.equal(failure.code, ErrorCodes.KAFKA_REBALANCE, type);
    assert.equal(failure.details.type, type);
    assert.notEqual(dispositionOf(failure), 'fatal');
  }
});

test('what no retry fixes is KAFKA: fatal', () => {
  for (const error of [
    withMessage(KafkaJSNotImplemented, 'LZ4 compression not implemented'),
    protocolError('TOPIC_AUTHORIZATION_FAILED', 29, false),
  ]) {
    const failure = mapped(error);
    assert.equal(failure.code, ErrorCodes.KAFKA, error.message);
    assert.equal(dispositionOf(failure), 'fatal');
  }
});

test('errors that are not kafkajs errors are not mapped, whatever their name says', () => {
  const lookalike = Object.assign(new Error('x'), { name: 'KafkaJSConnectionError', retriable: true });
  assert.equal(kafkaFailure(lookalike), undefined);
  assert.equal(kafkaFailure(new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'down')), undefined);
  assert.equal(kafkaFailure(undefined), undefined);
});

test('refused SASL credentials are KAFKA_AUTH (fatal), also when kafkajs wrapped them in its retry errors', () => {
  const refused = withMessage(
    KafkaJSSASLAuthenticationError,
    'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
  );
  for (const error of [
    refused,
    retriesExceeded(refused),
    protocolError('SASL_AUTHENTICATION_FAILED', 58, false),
    protocolError('UNSUPPORTED_SASL_MECHANISM', 33, false),
  ]) {
    const failure = mapped(error);
    assert.equal(failure.code, ErrorCodes.KAFKA_AUTH, error.message);
    assert.equal(dispositionOf(failure), 'fatal');
    assert.match(
      failure.message,
      /PF_KAFKA_SASL_USERNAME, PF_KAFKA_SASL_PASSWORD or PF_KAFKA_SASL_PASSWORD_FILE/,
    );
  }
});

test('a certificate that fails verification is KAFKA_TLS (fatal), though kafkajs retries it as a connection error', () => {
  for (const code of [
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'CERT_HAS_EXPIRED',
  ]) {
    const connection = new KafkaJSConnectionError(`Connection error: ${code}`, {
      broker: '127.0.0.1:19096',
      code,
    });
    for (const error of [connection, retriesExceeded(connection)]) {
      const failure = mapped(error);
      assert.equal(failure.code, ErrorCodes.KAFKA_TLS, `${error.name} ${code}`);
      assert.equal(dispositionOf(failure), 'fatal');
      assert.equal(failure.details.certificate, code);
      assert.equal(failure.details.broker, '127.0.0.1:19096');
      assert.match(failure.message, /PF_KAFKA_SSL_CA_FILE/);
    }
  }
  // any other connection failure stays an outage
  const reset = new KafkaJSConnectionError('Connection error: socket hang up', {
    broker: 'b:1',
    code: 'ECONNRESET',
  });
  assert.equal(mapped(reset).code, ErrorCodes.KAFKA_UNAVAILABLE);
});
