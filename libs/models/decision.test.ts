import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideLabel } from './decision.ts';

test('argmax without thresholds; ties go to the earlier label', () => {
  assert.equal(decideLabel([0.2, 0.5, 0.3], ['a', 'b', 'c'], {}), 1);
  assert.equal(decideLabel([0.4, 0.4, 0.2], ['a', 'b', 'c'], {}), 0);
});

test('a thresholded label wins once its probability reaches the threshold, and only then', () => {
  const labels = ['legit', 'fraud'];
  assert.equal(decideLabel([0.63, 0.37], labels, { fraud: 0.37 }), 1);
  assert.equal(decideLabel([0.64, 0.36], labels, { fraud: 0.37 }), 0);
  // above 0.5 but below a stricter threshold: still legit
  assert.equal(decideLabel([0.4, 0.6], labels, { fraud: 0.7 }), 0);
});

test('several thresholded labels: the most probable that passes', () => {
  assert.equal(decideLabel([0.2, 0.35, 0.45], ['ok', 'x', 'y'], { x: 0.3, y: 0.4 }), 2);
  assert.equal(decideLabel([0.5, 0.35, 0.15], ['ok', 'x', 'y'], { x: 0.3, y: 0.4 }), 1);
});
