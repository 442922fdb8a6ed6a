import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateEvents, parseShift } from './index.ts';

const take = (options: Parameters<typeof generateEvents>[0]) => [...generateEvents(options)];

describe('shifted traffic', () => {
  test('amountScale multiplies payment amounts of the same underlying events; countries are replaced', () => {
    const plain = take({ seed: 7, count: 50, sources: ['payments'] });
    const shifted = take({
      seed: 7,
      count: 50,
      sources: ['payments'],
      shift: { amountScale: 5, countries: ['NG'] },
    });
    plain.forEach((p, i) => {
      const s = shifted[i]!;
      assert.equal(s.event.transaction_id, p.event.transaction_id, 'the same event underneath');
      const before = (p.event.amount as { value_minor: number }).value_minor;
      const after = (s.event.amount as { value_minor: number }).value_minor;
      assert.equal(after, Math.min(2_000_000_000, Math.max(1, Math.round(before * 5))));
      assert.equal((s.event.card as { country: string }).country, 'NG');
      assert.equal(
        (s.event.merchant as { country: string }).country,
        (p.event.merchant as { country: string }).country,
      );
    });
  });

  test('attackMix changes the class mix, deterministically by seed', () => {
    const fraudShare = (events: { label: string }[]) =>
      events.filter((e) => e.label === 'fraud').length / events.length;
    const plain = take({ seed: 3, count: 2000, sources: ['payments'] });
    const mixed = take({ seed: 3, count: 2000, sources: ['payments'], shift: { attackMix: { fraud: 10 } } });
    assert.ok(fraudShare(plain) < 0.08, `unshifted fraud share ${fraudShare(plain)}`);
    assert.ok(fraudShare(mixed) > 0.25, `shifted fraud share ${fraudShare(mixed)}`);
    const again = take({ seed: 3, count: 2000, sources: ['payments'], shift: { attackMix: { fraud: 10 } } });
    assert.deepEqual(again, mixed);
  });

  test('an empty shift leaves the events as they are', () => {
    assert.deepEqual(take({ seed: 5, count: 30, shift: {} }), take({ seed: 5, count: 30 }));
  });

  test('PF_LOADGEN_SHIFT syntax, and the reasons it is refused', () => {
    assert.deepEqual(parseShift('countries=NG,BR; amountScale=5;attackMix=fraud:10,account_takeover:8'), {
      countries: ['NG', 'BR'],
      amountScale: 5,
      attackMix: { fraud: 10, account_takeover: 8 },
    });
    assert.throws(() => parseShift('amountScale=-1'), /positive number/);
    assert.throws(() => parseShift('countries=nigeria'), /two-letter/);
    assert.throws(() => parseShift('speed=3'), /unknown setting "speed"/);
    assert.throws(() => parseShift('attackMix=fraud'), /label:weight/);
    assert.throws(() => take({ seed: 1, count: 1, shift: { attackMix: { fraud: 0 } } }), /weight 0/);
  });
});
