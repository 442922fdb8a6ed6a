import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { generateEvents, toNormalizedPattern } from '@patternflow/generators';
import avro from 'avsc';
import { extractFeatures, featureNames, getSourceAdapter, getSourcePack, sourceNames } from './index.ts';

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
  test('lists the three sources, each with an adapter and a pack', () => {
    assert.deepEqual(sourceNames(), SOURCES);
    for (const s of SOURCES) {
      assert.equal(getSourceAdapter(s)?.source, s);
      assert.deepEqual(featureNames(s), getSourcePack(s)?.features.names);
    }
    assert.equal(getSourceAdapter('nope'), undefined);
  });
});

describe('raw schemas', () => {
  for (const s of SOURCES) {
    test(`${s}: every generated event is valid JSON for its Avro schema and survives an Avro round trip`, () => {
      const adapter = getSourceAdapter(s)!;
      assert.equal((adapter.rawSchema as { namespace?: string }).namespace, 'dev.patternflow.sources');
      const type = avro.Type.forSchema(adapter.rawSchema as avro.Schema);
      let optionalNulls = 0;
      for (const ev of generateEvents({ seed: 8, count: 2000, sources: [s] })) {
        const paths: string[] = [];
        const ok = type.isValid(ev.event, { errorHook: (path) => paths.push(path.join('.')) });
        assert.ok(ok, `${s} event invalid at ${paths.join(', ')}: ${JSON.stringify(ev.event)}`);
        const decoded = type.fromBuffer(type.toBuffer(ev.event)) as Record<string, unknown>;
        assert.deepEqual(adapter.normalize(decoded), adapter.normalize(ev.event));
        optionalNulls += Object.values(adapter.normalize(ev.event).attributes).filter(
          (v) => v === null,
        ).length;
      }
      assert.ok(optionalNulls > 0, 'optional fields are sometimes absent');
    });
  }

  test('a schema violation is caught by the schema (wrong type in a nested field)', () => {
    const ev = [...generateEvents({ seed: 1, count: 1, sources: ['payments'] })][0]!;
    const type = avro.Type.forSchema(getSourceAdapter('payments')!.rawSchema as avro.Schema);
    const bad = structuredClone(ev.event) as { amount: { value_minor: unknown } };
    bad.amount.value_minor = '12.50';
    const paths: string[] = [];
    assert.equal(type.isValid(bad, { errorHook: (p) => paths.push(p.join('.')) }), false);
    assert.deepEqual(paths, ['amount.value_minor']);
  });
});

describe('adapters normalize', () => {
  const first = (s: string): Record<string, unknown> =>
    structuredClone([...generateEvents({ seed: 2, count: 1, sources: [s] })][0]!.event);

  test('payments: ISO time, ids, flattened dotted attributes', () => {
    const raw = first('payments');
    raw.created_at = '2025-03-03T10:15:30.250+01:00';
    const core = getSourceAdapter('payments')!.normalize(raw);
    assert.equal(core.id, raw.transaction_id);
    assert.equal(core.kind, 'card_payment');
    assert.equal(core.event_time, Date.UTC(2025, 2, 3, 9, 15, 30, 250));
    assert.equal(core.tenant, raw.tenant_id);
    assert.equal(core.attributes['amount.currency'], (raw.amount as { currency: string }).currency);
    assert.equal(core.attributes['card.present'], (raw.card as { present: boolean }).present);
    assert.equal(typeof core.attributes['merchant.mcc'], 'number');
  });

  test('auth: epoch millis time', () => {
    const raw = first('auth');
    raw.timestamp_ms = 1_741_000_000_123;
    const core = getSourceAdapter('auth')!.normalize(raw);
    assert.equal(core.event_time, 1_741_000_000_123);
    assert.equal(core.kind, 'login');
    assert.equal(core.id, raw.event_id);
  });

  test('netflow: epoch seconds and tenant from the nested exporter', () => {
    const raw = first('netflow');
    raw.start_ts = 1_741_000_000.5;
    const core = getSourceAdapter('netflow')!.normalize(raw);
    assert.equal(core.event_time, 1_741_000_000_500);
    assert.equal(core.tenant, (raw.exporter as { tenant_id: string }).tenant_id);
    assert.equal(core.attributes['exporter.device'], (raw.exporter as { device: string }).device);
  });

  test('unparseable or implausible timestamps are INVALID_FIELD', () => {
    const p = first('payments');
    p.created_at = '03/03/2025 10:15';
    rejectsWith(() => getSourceAdapter('payments')!.normalize(p), ErrorCodes.INVALID_FIELD, /created_at/);
    p.created_at = '2025-13-45T99:99:99Z';
    rejectsWith(() => getSourceAdapter('payments')!.normalize(p), ErrorCodes.INVALID_FIELD, /created_at/);
    const a = first('auth');
    a.timestamp_ms = 1_741_000_000; // seconds where millis are expected: 1970
    rejectsWith(() => getSourceAdapter('auth')!.normalize(a), ErrorCodes.INVALID_FIELD, /timestamp_ms/);
    const n = first('netflow');
    n.start_ts = Number.NaN;
    rejectsWith(() => getSourceAdapter('netflow')!.normalize(n), ErrorCodes.INVALID_FIELD, /start_ts/);
  });

  test('unknown tier is INVALID_FIELD, a missing id MISSING_FIELD, a bad region INVALID_FIELD', () => {
    const p = first('payments');
    p.tier = 'platinum';
    rejectsWith(() => getSourceAdapter('payments')!.normalize(p), ErrorCodes.INVALID_FIELD, /tier.*platinum/);
    const n = first('netflow');
    (n.exporter as { tier: string }).tier = 'gold';
    rejectsWith(() => getSourceAdapter('netflow')!.normalize(n), ErrorCodes.INVALID_FIELD, /exporter\.tier/);
    const a = first('auth');
    delete a.event_id;
    rejectsWith(() => getSourceAdapter('auth')!.normalize(a), ErrorCodes.MISSING_FIELD, /event_id/);
    const b = first('auth');
    b.region = 'Europe West';
    rejectsWith(() => getSourceAdapter('auth')!.normalize(b), ErrorCodes.INVALID_FIELD, /region/);
  });
});

describe('extractFeatures', () => {
  test('returns one finite vector per record in the declared order and length', () => {
    for (const ev of generateEvents({ seed: 4, count: 300 })) {
      const { modelKey, values } = extractFeatures(toNormalizedPattern(ev.source, ev.event));
      assert.equal(modelKey, ev.source);
      assert.ok(values instanceof Float32Array);
      assert.equal(values.length, featureNames(modelKey)!.length);
      assert.ok(values.every(Number.isFinite));
    }
  });

  test('is computed from the canonical attributes (the payload is not read)', () => {
    const ev = [...generateEvents({ seed: 4, count: 1, sources: ['payments'] })][0]!;
    const record = toNormalizedPattern('payments', ev.event);
    const before = extractFeatures(record).values;
    const changed = {
      ...record,
      payload: '{}',
      attributes: { ...record.attributes, 'customer.txn_count_24h': 77 },
    };
    const after = extractFeatures(changed).values;
    const i = featureNames('payments')!.indexOf('txn_count_24h');
    assert.equal(after[i], 77);
    assert.notEqual(before[i], 77);
  });

  test('a missing or mistyped attribute is INVALID_FEATURES naming it', () => {
    const ev = [...generateEvents({ seed: 4, count: 1, sources: ['netflow'] })][0]!;
    const record = toNormalizedPattern('netflow', ev.event);
    const { 'bytes.to_dst': _, ...withoutBytes } = record.attributes;
    rejectsWith(
      () => extractFeatures({ ...record, attributes: withoutBytes }),
      ErrorCodes.INVALID_FEATURES,
      /"bytes\.to_dst" is missing/,
    );
    rejectsWith(
      () => extractFeatures({ ...record, attributes: { ...record.attributes, duration_ms: 'long' } }),
      ErrorCodes.INVALID_FEATURES,
      /"duration_ms" must be a number/,
    );
    rejectsWith(
      () =>
        extractFeatures({
          ...record,
          attributes: { ...record.attributes, duration_ms: Number.POSITIVE_INFINITY },
        }),
      ErrorCodes.INVALID_FEATURES,
      /"duration_log" is Infinity/,
    );
  });

  test('a record of an unknown source is UNKNOWN_SOURCE', () => {
    const ev = [...generateEvents({ seed: 4, count: 1, sources: ['auth'] })][0]!;
    const record = { ...toNormalizedPattern('auth', ev.event), source: 'smtp' };
    rejectsWith(() => extractFeatures(record), ErrorCodes.UNKNOWN_SOURCE, /smtp/);
  });
});
