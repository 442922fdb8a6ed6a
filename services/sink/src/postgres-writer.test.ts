import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRetriableSinkError } from './postgres-writer.ts';

const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

test('connection and server-state failures are retriable', () => {
  for (const code of [
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
    assert.equal(isRetriableSinkError(pgError(code)), true, code);
  }
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOSPC']) {
    assert.equal(isRetriableSinkError(pgError(code)), true, code);
  }
  assert.equal(isRetriableSinkError(new Error('Connection terminated unexpectedly')), true);
  assert.equal(isRetriableSinkError(new Error('timeout exceeded when trying to connect')), true);
});

test('data, constraint, schema and auth errors are not retriable', () => {
  // 22P02 invalid JSON text, 22P05 \u0000 in jsonb, 23502 not-null, 42P01 missing table, 28P01 bad password
  for (const code of ['22P02', '22P05', '22003', '23502', '42P01', '42703', '28P01']) {
    assert.equal(isRetriableSinkError(pgError(code)), false, code);
  }
  assert.equal(isRetriableSinkError(pgError('EACCES')), false);
  assert.equal(isRetriableSinkError(new Error('something else')), false);
  assert.equal(isRetriableSinkError(null), false);
});
