import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../exit.ts';
import { matchesFilter, parseWhere, valueAt } from './filter.ts';
import type { ShownRecord } from './render.ts';

const record = (
  value: unknown,
  format: ShownRecord['format'] = 'json',
  key: string | null = 'p-1',
): ShownRecord => ({
  topic: 't',
  partition: 0,
  offset: '0',
  timestamp: '',
  key,
  headers: {},
  format,
  value,
  bytes: 1,
});

test('--where takes a dot path and a value; anything else is a usage error', () => {
  assert.deepEqual(parseWhere('attributes.merchant=a=b'), {
    path: ['attributes', 'merchant'],
    expected: 'a=b',
  });
  assert.deepEqual(parseWhere('tier='), { path: ['tier'], expected: '' });
  for (const bad of ['tier', '=x', 'a..b=1', '.a=1']) {
    assert.throws(
      () => parseWhere(bad),
      (error: unknown) => error instanceof CliError && error.exitCode === 2,
    );
  }
});

test('paths read own properties only', () => {
  assert.equal(valueAt({ a: { b: 2 } }, ['a', 'b']), 2);
  assert.equal(valueAt({ a: 1 }, ['constructor']), undefined);
  assert.equal(valueAt({ a: 1 }, ['a', 'toString']), undefined);
  assert.equal(valueAt([5, 6], ['1']), 6);
});

test('key and where filters are ANDed; non-strings compare as JSON', () => {
  const value = { tier: 'free', amount: 12.5, flags: { vip: true }, note: null };
  const where = (...texts: string[]) => texts.map(parseWhere);
  assert.ok(matchesFilter(record(value), { where: where('tier=free', 'amount=12.5', 'flags.vip=true') }));
  assert.ok(matchesFilter(record(value), { key: 'p-1', where: where('note=null') }));
  assert.ok(!matchesFilter(record(value), { key: 'p-2', where: [] }));
  assert.ok(!matchesFilter(record(value), { where: where('tier=free', 'amount=13') }));
  assert.ok(!matchesFilter(record(value), { where: where('missing=undefined') }));
  assert.ok(!matchesFilter(record('tier=free', 'text'), { where: where('tier=free') }), 'text has no fields');
  assert.ok(matchesFilter(record(value, 'avro'), { where: where('tier=free') }));
});
