import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { collect, parseDuration, parseTimeSpec, positiveInteger } from './options.ts';

const NOW = Date.parse('2026-11-26T12:00:00Z');

test('durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('1d'), 86_400_000);
  for (const bad of ['15', '1.5h', '-1m', 'm', '2w'])
    assert.throws(() => parseDuration(bad), InvalidArgumentError);
});

test('times: ISO 8601 or a duration ago, never in the future', () => {
  assert.equal(parseTimeSpec('15m', NOW), NOW - 900_000);
  assert.equal(parseTimeSpec('2026-11-26T07:00:00Z', NOW), Date.parse('2026-11-26T07:00:00Z'));
  assert.equal(parseTimeSpec('2026-11-26T08:00:00+01:00', NOW), Date.parse('2026-11-26T07:00:00Z'));
  assert.equal(parseTimeSpec('2026-11-25', NOW), Date.parse('2026-11-25'));
  assert.throws(() => parseTimeSpec('2026-11-27T00:00:00Z', NOW), /in the future/);
  for (const bad of ['yesterday', '2026-13-45T99:00:00Z', '1700000000000', '']) {
    assert.throws(() => parseTimeSpec(bad, NOW), InvalidArgumentError, bad);
  }
});

test('positive integers and repeated options', () => {
  assert.equal(positiveInteger('3'), 3);
  for (const bad of ['0', '-1', '1.5', 'x', '99999999999999999999']) {
    assert.throws(() => positiveInteger(bad), InvalidArgumentError);
  }
  assert.deepEqual(collect('b', collect('a')), ['a', 'b']);
});
