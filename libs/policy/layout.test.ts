import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coldLanesOf, layoutChange, parsePolicy } from './index.ts';

const policy = (lanes: string, sinks = '') =>
  parsePolicy(
    `version: "l"\nlanes: [${lanes}]\n${sinks}rules:\n  - name: default\n    lane: standard\n`,
    'inline',
  );
const SINKS = 'sinks:\n  standard: [postgres]\n  bulk: [postgres, cold]\n';

test('the same lanes in another order and the same sinks are the same layout', () => {
  assert.equal(layoutChange(policy('standard, bulk', SINKS), policy('bulk, standard', SINKS)), undefined);
});

test('an added or removed lane is a layout change, named', () => {
  assert.equal(
    layoutChange(policy('standard, bulk'), policy('standard, bulk, archive')),
    'lanes standard, bulk → standard, bulk, archive (added archive)',
  );
  assert.match(layoutChange(policy('standard, bulk'), policy('standard')) ?? '', /\(removed bulk\)/);
});

test('where a lane lands, and whether the policy says it, are part of the layout', () => {
  assert.equal(
    layoutChange(
      policy('standard, bulk', SINKS),
      policy('standard, bulk', 'sinks:\n  standard: [postgres]\n  bulk: [postgres]\n'),
    ),
    'lane bulk lands in postgres instead of postgres, cold',
  );
  assert.equal(
    layoutChange(policy('standard, bulk'), policy('standard, bulk', SINKS)),
    'a sinks: mapping is added',
  );
});

test('cold lanes come from the sinks mapping', () => {
  assert.deepEqual(coldLanesOf(policy('standard, bulk', SINKS)), ['bulk']);
  assert.equal(coldLanesOf(policy('standard, bulk')), undefined);
});
