import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  certificateFailureOf,
  type Disposition,
  dispositionOf,
  ErrorCodes,
  PipelineError,
  recordFailure,
} from './index.ts';

const allCodes = Object.values(ErrorCodes);

test('every code is distinct, prefixed PF_, and has a disposition', () => {
  assert.equal(new Set(allCodes).size, allCodes.length);
  for (const code of allCodes) {
    assert.match(code, /^PF_[A-Z_]+$/);
    assert.ok(['dead-letter', 'retry', 'fatal'].includes(dispositionOf(new PipelineError(code, 'x'))));
  }
});

test('the disposition is a property of the code', () => {
  const of = (code: (typeof allCodes)[number]) => dispositionOf(new PipelineError(code, 'x'));
  assert.equal(of(ErrorCodes.VALUE_NOT_DECODABLE), 'dead-letter');
  assert.equal(of(ErrorCodes.SINK_REJECTED), 'dead-letter');
  assert.equal(of(ErrorCodes.RECORD_UNEXPECTED), 'dead-letter');
  assert.equal(of(ErrorCodes.REGISTRY_UNAVAILABLE), 'retry');
  assert.equal(of(ErrorCodes.SINK_UNAVAILABLE), 'retry');
  assert.equal(of(ErrorCodes.SINK_COMMIT_UNKNOWN), 'retry');
  assert.equal(of(ErrorCodes.KAFKA_UNAVAILABLE), 'retry');
  assert.equal(of(ErrorCodes.CONFIG_INVALID), 'fatal');
  assert.equal(of(ErrorCodes.SINK_FAILED), 'fatal');
  assert.equal(of(ErrorCodes.KAFKA), 'fatal');
});

test('anything that is not a PipelineError is fatal', () => {
  for (const error of [
    new Error('x'),
    new TypeError('x'),
    'a string',
    undefined,
    null,
    { code: 'PF_VALUE_EMPTY' },
  ]) {
    assert.equal(dispositionOf(error), 'fatal');
  }
});

test('docs/architecture.md lists every code with its disposition, and nothing else', () => {
  const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
  const documented = new Map<string, string>();
  for (const [, code, disposition] of doc.matchAll(/^\| `(PF_[A-Z_]+)` \| (dead-letter|retry|fatal) \|/gm)) {
    documented.set(code!, disposition!);
  }
  const actual = new Map<string, Disposition>(
    allCodes.map((code) => [code, dispositionOf(new PipelineError(code, 'x'))]),
  );
  assert.deepEqual(documented, actual);
});

test('recordFailure keeps a dead-letter error as it is', () => {
  const error = new PipelineError(ErrorCodes.SCHEMA_VIOLATION, 'bad field');
  assert.equal(recordFailure(error), error);
});

test('recordFailure leaves retry and fatal errors to fail the chunk', () => {
  assert.equal(recordFailure(new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'down')), undefined);
  assert.equal(recordFailure(new PipelineError(ErrorCodes.CONFIG_INVALID, 'broken')), undefined);
});

test('recordFailure makes anything else RECORD_UNEXPECTED, naming the original error', () => {
  const typeError = new TypeError("Cannot read properties of undefined (reading 'x')");
  const failure = recordFailure(typeError);
  assert.ok(failure instanceof PipelineError);
  assert.equal(failure.code, ErrorCodes.RECORD_UNEXPECTED);
  assert.equal(dispositionOf(failure), 'dead-letter');
  assert.equal(failure.cause, typeError);
  assert.equal(failure.message, "unexpected TypeError: Cannot read properties of undefined (reading 'x')");

  let overflow: unknown;
  const recurse = (n: number): number => recurse(n + 1) + 1;
  try {
    recurse(0);
  } catch (error) {
    overflow = error;
  }
  assert.match(recordFailure(overflow)!.message, /^unexpected RangeError: Maximum call stack size exceeded/);

  assert.equal(recordFailure('boom')!.message, 'unexpected thrown string: boom');
  assert.equal(recordFailure(Object.create(null))!.message, 'unexpected thrown object');
});

test('certificateFailureOf finds a TLS verification code in an error or its causes, and nothing else', () => {
  const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
    code: 'SELF_SIGNED_CERT_IN_CHAIN',
  });
  assert.equal(certificateFailureOf(tls), 'SELF_SIGNED_CERT_IN_CHAIN');
  assert.equal(
    certificateFailureOf(new Error('outer', { cause: new Error('middle', { cause: tls }) })),
    'SELF_SIGNED_CERT_IN_CHAIN',
  );
  const altName = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
  assert.equal(certificateFailureOf(altName), 'ERR_TLS_CERT_ALTNAME_INVALID');
  for (const other of [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'x', undefined, null]) {
    assert.equal(certificateFailureOf(other), undefined);
  }
  for (const code of [
    'PF_KAFKA_AUTH',
    'PF_KAFKA_TLS',
    'PF_REGISTRY_AUTH',
    'PF_REGISTRY_TLS',
    'PF_SINK_AUTH',
    'PF_SINK_TLS',
  ]) {
    assert.equal(dispositionOf(new PipelineError(code as never, 'x')), 'fatal', code);
  }
});
