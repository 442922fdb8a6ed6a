import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import pg from 'pg';
import { fromColdFiles, fromPostgres, SinkCommitUnknownError } from './sink-errors.ts';

const context = { operation: 'writeBatch', phase: 'work' };

/** An error as pg's protocol parser makes it from the server's ErrorResponse. */
function serverError(sqlstate: string): pg.DatabaseError {
  const error = new pg.DatabaseError(`server says ${sqlstate}`, 0, 'error');
  error.code = sqlstate;
  return error;
}
const nodeError = (code: string) => Object.assign(new Error(`syscall failed: ${code}`), { code });

test('connection and server-state failures are SINK_UNAVAILABLE: retried', () => {
  // 08 connection, 40 serialization/deadlock, 53 resources, 57 operator intervention, 58 system, 55P03 lock
  for (const sqlstate of [
    '08006',
    '08001',
    '40001',
    '40P01',
    '53300',
    '57P01',
    '57P03',
    '57014',
    '55P03',
    '58030',
  ]) {
    const failure = fromPostgres(serverError(sqlstate), context);
    assert.equal(failure.code, ErrorCodes.SINK_UNAVAILABLE, sqlstate);
    assert.equal(failure.details.sqlstate, sqlstate);
    assert.equal(dispositionOf(failure), 'retry');
  }
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']) {
    assert.equal(fromPostgres(nodeError(code), context).code, ErrorCodes.SINK_UNAVAILABLE, code);
  }
  // pg reports a connection it lost or could not get without any code
  for (const message of ['Connection terminated unexpectedly', 'timeout exceeded when trying to connect']) {
    assert.equal(fromPostgres(new Error(message), context).code, ErrorCodes.SINK_UNAVAILABLE, message);
  }
});

test('data and integrity errors are SINK_REJECTED: the record is dead-lettered', () => {
  // 22P02 invalid JSON text, 22P05 \u0000 in jsonb, 22003 out of range, 23502 not-null
  for (const sqlstate of ['22P02', '22P05', '22003', '23502']) {
    const failure = fromPostgres(serverError(sqlstate), context);
    assert.equal(failure.code, ErrorCodes.SINK_REJECTED, sqlstate);
    assert.equal(dispositionOf(failure), 'dead-letter');
    assert.match(failure.message, new RegExp(`SQLSTATE ${sqlstate}`));
  }
});

test('schema and SQL errors are SINK_FAILED: the process stops', () => {
  // 42P01 missing table, 42703 missing column, 3D000 no such database
  for (const sqlstate of ['42P01', '42703', '3D000']) {
    const failure = fromPostgres(serverError(sqlstate), context);
    assert.equal(failure.code, ErrorCodes.SINK_FAILED, sqlstate);
    assert.equal(dispositionOf(failure), 'fatal');
  }
  assert.equal(fromPostgres(nodeError('EACCES'), context).code, ErrorCodes.SINK_FAILED);
});

test('refused credentials are SINK_AUTH and a TLS failure SINK_TLS: the process stops, no plaintext retry', () => {
  // 28P01 wrong password, 28000 no pg_hba entry for this user, database and TLS state
  for (const sqlstate of ['28P01', '28000']) {
    const failure = fromPostgres(serverError(sqlstate), context);
    assert.equal(failure.code, ErrorCodes.SINK_AUTH, sqlstate);
    assert.equal(dispositionOf(failure), 'fatal');
    assert.match(failure.message, /credentials of PF_PG_URL/);
  }
  for (const code of [
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ]) {
    const failure = fromPostgres(nodeError(code), context);
    assert.equal(failure.code, ErrorCodes.SINK_TLS, code);
    assert.equal(failure.details.certificate, code);
    assert.match(failure.message, /PF_PG_CA_FILE/);
  }
  const noTls = fromPostgres(new Error('The server does not support SSL connections'), context);
  assert.equal(noTls.code, ErrorCodes.SINK_TLS);
  assert.equal(dispositionOf(noTls), 'fatal');
});

test('a SQLSTATE-like code on something that is not a server error is not read as one', () => {
  assert.equal(fromPostgres(nodeError('22P02'), context).code, ErrorCodes.SINK_FAILED);
});

test('an error that is already a PipelineError is kept', () => {
  const rejected = new PipelineError(ErrorCodes.SINK_REJECTED, 'payload is not JSON');
  assert.equal(fromPostgres(rejected, context), rejected);
  assert.equal(fromColdFiles(rejected, context), rejected);
});

test('cold-file errors: a disk that may recover is retried, one that will not stops the process', () => {
  for (const code of ['ENOSPC', 'EIO', 'EMFILE', 'EAGAIN', 'EBUSY']) {
    const failure = fromColdFiles(nodeError(code), { operation: 'cold files', phase: 'stage' });
    assert.ok(failure instanceof PipelineError);
    assert.equal(failure.code, ErrorCodes.SINK_UNAVAILABLE, code);
  }
  for (const code of ['EACCES', 'EROFS', 'ENOTDIR']) {
    const failure = fromColdFiles(nodeError(code), { operation: 'cold files', phase: 'stage' });
    assert.ok(failure instanceof PipelineError);
    assert.equal(failure.code, ErrorCodes.SINK_FAILED, code);
  }
  // without a Node code it did not come from the file system: a bug, left unmapped (fatal)
  const bug = new TypeError('x is not a function');
  assert.equal(fromColdFiles(bug, { operation: 'cold files', phase: 'stage' }), bug);
  assert.equal(dispositionOf(bug), 'fatal');
});

test('a COMMIT without an answer carries its transaction id as a typed field', () => {
  const lost = fromPostgres(new Error('Connection terminated unexpectedly'), { ...context, phase: 'commit' });
  const unknown = new SinkCommitUnknownError('7331', lost, { ...context, phase: 'commit' });
  assert.ok(unknown instanceof PipelineError);
  assert.equal(unknown.code, ErrorCodes.SINK_COMMIT_UNKNOWN);
  assert.equal(unknown.transactionId, '7331');
  assert.equal(unknown.cause, lost);
  assert.equal(dispositionOf(unknown), 'retry');
  assert.match(unknown.message, /transaction 7331/);
});
