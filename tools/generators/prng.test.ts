import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSeed, Rng } from './prng.ts';

test('same seed gives the same sequence, another seed another', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const seqA = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.next()),
    seqA,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c.next()),
    seqA,
  );
});

test('mulberry32 reference values (guards against an accidental change of the algorithm)', () => {
  const rng = new Rng(1);
  assert.deepEqual(
    [rng.next(), rng.next(), rng.next()].map((v) => Math.round(v * 1e9)),
    [627073941, 2735721, 527447040],
  );
});

test('uniform output stays in range and is roughly uniform', () => {
  const rng = new Rng(7);
  let sum = 0;
  for (let i = 0; i < 20_000; i++) {
    const v = rng.next();
    assert.ok(v >= 0 && v < 1);
    sum += v;
  }
  assert.ok(Math.abs(sum / 20_000 - 0.5) < 0.01);
  for (let i = 0; i < 1000; i++) {
    const n = rng.int(3, 5);
    assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
  }
});

test('derived seeds differ per label and are stable', () => {
  assert.equal(deriveSeed(1, 'payments'), deriveSeed(1, 'payments'));
  assert.notEqual(deriveSeed(1, 'payments'), deriveSeed(1, 'auth'));
  assert.notEqual(deriveSeed(1, 'payments'), deriveSeed(2, 'payments'));
});

test('uuid has the version-4 shape', () => {
  const rng = new Rng(9);
  for (let i = 0; i < 50; i++) {
    assert.match(rng.uuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
});
