import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextTraceparent, parseTraceparent, traceIdOf } from './trace.ts';

test('a hop keeps the trace id and gets a new span id', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const next = nextTraceparent(incoming);
  assert.equal(traceIdOf(next), '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.notEqual(parseTraceparent(next)?.spanId, '00f067aa0ba902b7');
  assert.equal(parseTraceparent(next)?.flags, '01');
});

test('a missing or malformed traceparent starts a new, valid trace', () => {
  for (const bad of [undefined, '', 'garbage', '00-00000000000000000000000000000000-00f067aa0ba902b7-01']) {
    const next = nextTraceparent(bad);
    assert.ok(parseTraceparent(next), `${next} is valid`);
  }
  assert.notEqual(traceIdOf(nextTraceparent(undefined)), traceIdOf(nextTraceparent(undefined)));
});

test('span ids do not repeat across many hops (the random pool refills)', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const spans = new Set<string>();
  for (let i = 0; i < 5000; i++) spans.add(parseTraceparent(nextTraceparent(incoming))!.spanId);
  assert.equal(spans.size, 5000);
});
