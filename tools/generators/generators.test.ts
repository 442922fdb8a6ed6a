import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { TIERS } from '@patternflow/records';
import { extractFeatures, getSourceAdapter, sourceNames } from '@patternflow/sources';
import { generateEvents, generatorNames, getSourceGenerator, toNormalizedPattern } from './index.ts';

const SOURCES = ['payments', 'auth', 'netflow'];

function rejectsWith(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PipelineError, `expected a PipelineError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('registry', () => {
  test('one generator per source pack, in the same order, each with its labels', () => {
    assert.deepEqual(generatorNames(), sourceNames());
    assert.deepEqual(generatorNames(), SOURCES);
    for (const s of SOURCES) assert.ok((getSourceGenerator(s)?.labels.length ?? 0) >= 2);
  });
});

describe('generateEvents', () => {
  test('same seed => same events; another seed => other events', () => {
    const a = [...generateEvents({ seed: 11, count: 300 })];
    const b = [...generateEvents({ seed: 11, count: 300 })];
    const c = [...generateEvents({ seed: 12, count: 300 })];
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('a mix interleaves all sources; one source stream does not depend on the mix', () => {
    const mixed = [...generateEvents({ seed: 5, count: 600 })];
    for (const s of SOURCES) assert.ok(mixed.filter((e) => e.source === s).length > 120, `${s} share`);
    const onlyAuth = [...generateEvents({ seed: 5, count: 50, sources: ['auth'] })];
    const authInMix = mixed.filter((e) => e.source === 'auth').slice(0, 50);
    assert.deepEqual(authInMix, onlyAuth);
  });

  test('unknown source is refused', () => {
    rejectsWith(
      () => [...generateEvents({ seed: 1, count: 1, sources: ['nope'] })],
      ErrorCodes.UNKNOWN_SOURCE,
      /nope/,
    );
  });

  test('labels are imbalanced but every class occurs', () => {
    for (const s of SOURCES) {
      const generator = getSourceGenerator(s)!;
      const counts = new Map<string, number>();
      for (const e of generateEvents({ seed: 3, count: 6000, sources: [s] })) {
        counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
      }
      assert.deepEqual(new Set(counts.keys()), new Set(generator.labels), `${s} classes`);
      const majority = counts.get(generator.labels[0]!)!;
      assert.ok(majority / 6000 > 0.8 && majority / 6000 < 0.99, `${s} majority share ${majority / 6000}`);
    }
  });

  test('event ids are unique and every event carries tenant, tier, region and a time', () => {
    const ids = new Set<string>();
    for (const ev of generateEvents({ seed: 21, count: 3000 })) {
      const core = getSourceAdapter(ev.source)!.normalize(ev.event);
      assert.ok(!ids.has(core.id), `duplicate id ${core.id}`);
      ids.add(core.id);
      assert.ok((TIERS as readonly string[]).includes(core.tier));
      assert.match(core.region, /^[a-z]+-[a-z]+$/);
      assert.ok(core.tenant.length > 0);
      assert.ok(core.event_time > Date.UTC(2025, 0, 1));
    }
  });
});

/**
 * The committed models were trained on these exact events (training/export-features.ts,
 * seed 20 250 303): any change to a generator, the PRNG, a vocabulary or a mapping changes
 * the digests below, and then models/ must be rebuilt (`make models`) in the same change.
 * Digests taken before the generators moved out of libs/sources.
 */
describe('determinism: byte-identical events, canonical records and features', () => {
  const digest = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex');
  const TRAIN_SEED = 20_250_303;

  test('a mix of all sources', () => {
    assert.equal(
      digest([...generateEvents({ seed: TRAIN_SEED, count: 3000 })]),
      '1e395c38b6c61b214b8e705b643ab74113e467e8ab5a04aaece85d3b424d3b61',
    );
  });

  const expected: Record<string, { events: string; normalized: string; features: string }> = {
    payments: {
      events: '0db2fb0b22c14911a1f6a45551cb5a2dfbf252ca4f58c0e7e98e005d42d02c2c',
      normalized: '34bbd8e69a7b11138f4ae67d9ca8893611eab069a949e1e9168ab6ceb7148599',
      features: '5925ed7ed68b7ed0975d7d0d9e2cbb064e02efb078a0f498f416aa6b03ed37a7',
    },
    auth: {
      events: '05fae5e8a711790bb48d8d2f7cb72c3310c8966aad433aa37f7fb9caf368ee49',
      normalized: '465547b5b80d0f256e993601d7d00984603ecd999a38a976620e7785a3f5b65e',
      features: 'f99f1b64d58f4ff9d8c866b05eb58112d9e54802788bcf76cce2bfef96bfe0dd',
    },
    netflow: {
      events: 'cf9a3f236042cee1decff95d6e63eb9fdf8193bef58b31cdc433a662ad4156d0',
      normalized: '6badcd0b8cc224195743701df796e5dcdc8f2a4967d78d8cc054782947c0c5ee',
      features: 'f35df0d9a64ebbd775b45f187399117f1b0a0374c4348f3f0ebd2f1d363e1ab3',
    },
  };
  for (const source of SOURCES) {
    test(`${source}: 2000 events of the training seed`, () => {
      const events = [...generateEvents({ seed: TRAIN_SEED, count: 2000, sources: [source] })];
      const records = events.map((e) => toNormalizedPattern(source, e.event));
      const features = createHash('sha256');
      for (const record of records) features.update(Buffer.from(extractFeatures(record).values.buffer));
      assert.deepEqual(
        { events: digest(events), normalized: digest(records), features: features.digest('hex') },
        expected[source],
      );
    });
  }
});
