import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { type NormalizedPattern, topicNames } from '@patternflow/records';
import type { SchemaCodec, SchemaDecoder } from '@patternflow/registry';
import type { SourceAdapter } from '@patternflow/sources';
import avro from 'avsc';
import { createIngestDecoder, type IngestDecoderDeps } from './ingest.ts';

const demoSchema = {
  type: 'record',
  name: 'DemoEvent',
  namespace: 'dev.patternflow.test',
  fields: [
    { name: 'event_id', type: 'string' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'tenant', type: 'string' },
    { name: 'amount', type: 'double' },
    {
      name: 'merchant',
      type: {
        type: 'record',
        name: 'Merchant',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'country', type: 'string', default: 'NL' },
        ],
      },
    },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'blob', type: ['null', 'bytes'], default: null },
  ],
};

/** The 'demo' source: a stand-in for the real source packs, coded against the contract only. */
const seen: Array<Record<string, unknown>> = [];
const demoAdapter: SourceAdapter = {
  source: 'demo',
  rawSchema: demoSchema,
  normalize(raw) {
    seen.push(raw);
    const merchant = raw.merchant as { id: string; country: string };
    if ((raw.amount as number) < 0) {
      throw new PipelineError(ErrorCodes.INVALID_FIELD, `amount ${raw.amount} is negative`);
    }
    if (raw.event_id === 'explode') {
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    }
    return {
      id: raw.event_id as string,
      source: 'demo',
      kind: 'demo_event',
      event_time: raw.at as number,
      tenant: raw.tenant as string,
      tier: 'standard',
      region: merchant.country,
      attributes: {
        amount: raw.amount as number,
        'merchant.id': merchant.id,
        note: raw.note as string | null,
      },
    };
  },
};

const event = {
  event_id: 'e-1',
  at: 1_735_000_000_000,
  tenant: 'acme',
  amount: 42.5,
  merchant: { id: 'm-9', country: 'DE' },
  note: null,
  blob: null,
};

/**
 * An in-memory stand-in for the registry codec: schema ids map to avsc types; decode reads
 * the framed body with the writer type and resolves it into the reader type.
 */
function fakeCodec(writers: Record<number, object>) {
  const calls = { decoderFor: 0 };
  const codec: Pick<SchemaCodec, 'decoderFor'> = {
    decoderFor(readerSchema): SchemaDecoder {
      calls.decoderFor += 1;
      const reader = avro.Type.forSchema(readerSchema as avro.Schema, { wrapUnions: false });
      return {
        async decode(buffer) {
          const schemaId = buffer.readInt32BE(1);
          if (schemaId === 503) {
            throw new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'registry answered 503');
          }
          const writerSchema = writers[schemaId];
          if (writerSchema === undefined) {
            throw new PipelineError(ErrorCodes.UNKNOWN_SCHEMA_ID, `schema id ${schemaId} is unknown`, {
              details: { schemaId },
            });
          }
          const writer = avro.Type.forSchema(writerSchema as avro.Schema, { wrapUnions: false });
          return { schemaId, value: reader.fromBuffer(buffer.subarray(5), reader.createResolver(writer)) };
        },
      };
    },
  };
  return { codec, calls };
}

function framed(schemaId: number, schema: object, value: unknown): Buffer {
  const body = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false }).toBuffer(value);
  const header = Buffer.alloc(5);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}

function decoderWith(overrides: Partial<IngestDecoderDeps> = {}) {
  const { codec, calls } = fakeCodec({ 7: demoSchema });
  const decode = createIngestDecoder({
    adapters: new Map([['demo', demoAdapter]]),
    codec,
    maxValueBytes: 1024,
    ...overrides,
  });
  return { decode, calls };
}

const topic = 'patterns.ingest.demo';
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  ...patterns: RegExp[]
): Promise<PipelineError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof PipelineError, `expected a PipelineError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

describe('ingest decoder: happy paths', () => {
  test('JSON: validated, normalized, stamped with the Kafka timestamp and the original text', async () => {
    const { decode } = decoderWith();
    const text = JSON.stringify(event);
    const record = await decode({ topic, value: Buffer.from(text), timestamp: 1_735_000_000_500 });
    const expected: NormalizedPattern = {
      id: 'e-1',
      source: 'demo',
      kind: 'demo_event',
      event_time: 1_735_000_000_000,
      ingest_time: 1_735_000_000_500,
      tenant: 'acme',
      tier: 'standard',
      region: 'DE',
      attributes: { amount: 42.5, 'merchant.id': 'm-9', note: null },
      payload: text,
      payload_format: 'JSON',
      payload_schema_id: null,
    };
    assert.deepEqual(record, expected);
  });

  test('JSON: fields with defaults may be omitted and reach the adapter filled in', async () => {
    const { decode } = decoderWith();
    const { note: _note, blob: _blob, ...rest } = event;
    const record = await decode({
      topic,
      value: json({ ...rest, merchant: { id: 'm-1' } }),
      timestamp: 1,
    });
    assert.equal(record.region, 'NL');
    const raw = seen.at(-1);
    assert.equal(raw?.note, null);
    assert.equal(raw?.blob, null);
  });

  test('JSON with a UTF-8 byte order mark and non-ASCII text is accepted', async () => {
    const { decode } = decoderWith();
    const text = JSON.stringify({ ...event, tenant: 'zürich-€' });
    const record = await decode({ topic, value: Buffer.from(`\uFEFF${text}`), timestamp: 1 });
    assert.equal(record.tenant, 'zürich-€');
    assert.equal(record.payload, text);
  });

  test('Confluent-framed Avro: decoded with the raw schema as reader, payload is its JSON', async () => {
    const { decode } = decoderWith();
    const value = { ...event, note: 'hi', blob: Buffer.from([1, 2, 3]) };
    const record = await decode({ topic, value: framed(7, demoSchema, value), timestamp: 99 });
    assert.equal(record.payload_format, 'AVRO');
    assert.equal(record.payload_schema_id, 7);
    assert.equal(record.ingest_time, 99);
    assert.deepEqual(record.attributes, { amount: 42.5, 'merchant.id': 'm-9', note: 'hi' });
    assert.deepEqual(JSON.parse(record.payload), { ...event, note: 'hi', blob: 'AQID' });
  });

  test('avsc types and decoders are built once per source, at construction', async () => {
    const { codec, calls } = fakeCodec({ 7: demoSchema });
    const decode = createIngestDecoder({
      adapters: new Map([['demo', demoAdapter]]),
      codec,
      maxValueBytes: 1024,
    });
    assert.equal(calls.decoderFor, 1);
    for (let i = 0; i < 3; i += 1) {
      await decode({ topic, value: json(event), timestamp: i });
      await decode({ topic, value: framed(7, demoSchema, event), timestamp: i });
    }
    assert.equal(calls.decoderFor, 1);
  });

  test('a namespaced pipeline (tests) reads its own ingest topics', async () => {
    const topics = topicNames('it.ns1');
    const { decode } = decoderWith({ topics });
    const record = await decode({ topic: topics.ingest('demo'), value: json(event), timestamp: 5 });
    assert.equal(record.id, 'e-1');
    await rejectsWith(decode({ topic, value: json(event), timestamp: 5 }), ErrorCodes.UNKNOWN_SOURCE);
  });
});

describe('ingest decoder: every bad record is a specific record error', () => {
  test('unknown source and non-ingest topics are UNKNOWN_SOURCE', async () => {
    const { decode } = decoderWith();
    const unknown = await rejectsWith(
      decode({ topic: 'patterns.ingest.nope', value: json(event), timestamp: 1 }),
      ErrorCodes.UNKNOWN_SOURCE,
      /'nope'/,
    );
    assert.equal(dispositionOf(unknown), 'dead-letter');
    await rejectsWith(
      decode({ topic: 'patterns.normalized', value: json(event), timestamp: 1 }),
      ErrorCodes.UNKNOWN_SOURCE,
      /not an ingest topic/,
    );
    await rejectsWith(
      decode({ topic: 'patterns.ingest.', value: json(event), timestamp: 1 }),
      ErrorCodes.UNKNOWN_SOURCE,
    );
  });

  test('null and empty values are VALUE_EMPTY', async () => {
    const { decode } = decoderWith();
    await rejectsWith(decode({ topic, value: null, timestamp: 1 }), ErrorCodes.VALUE_EMPTY, /null/);
    await rejectsWith(
      decode({ topic, value: Buffer.alloc(0), timestamp: 1 }),
      ErrorCodes.VALUE_EMPTY,
      /empty/,
    );
  });

  test('a value above maxValueBytes is VALUE_OVERSIZED with both sizes', async () => {
    const { decode } = decoderWith({ maxValueBytes: 100 });
    const error = await rejectsWith(
      decode({ topic, value: Buffer.alloc(101, 0x20), timestamp: 1 }),
      ErrorCodes.VALUE_OVERSIZED,
      /101 bytes/,
      /100 bytes/,
    );
    assert.deepEqual(error.details, { bytes: 101, maxValueBytes: 100 });
    // exactly at the limit is not oversized (it fails later, as JSON)
    await rejectsWith(
      decode({ topic, value: Buffer.alloc(100, 0x20), timestamp: 1 }),
      ErrorCodes.VALUE_NOT_DECODABLE,
    );
  });

  test('invalid UTF-8 is VALUE_NOT_DECODABLE at its byte offset', async () => {
    const { decode } = decoderWith();
    const value = Buffer.concat([
      Buffer.from('{"tenant":"zürich-�'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    const error = await rejectsWith(
      decode({ topic, value, timestamp: 1 }),
      ErrorCodes.VALUE_NOT_DECODABLE,
      /UTF-8/,
    );
    assert.equal(error.details.position, Buffer.byteLength('{"tenant":"zürich-�'));
  });

  test('invalid JSON is VALUE_NOT_DECODABLE with the parse position', async () => {
    const { decode } = decoderWith();
    const error = await rejectsWith(
      decode({ topic, value: Buffer.from('{"event_id": "e-1",, }'), timestamp: 1 }),
      ErrorCodes.VALUE_NOT_DECODABLE,
      /position 19/,
    );
    assert.equal(error.details.position, 19);
    const truncated = await rejectsWith(
      decode({ topic, value: Buffer.from('{"event_id": "e'), timestamp: 1 }),
      ErrorCodes.VALUE_NOT_DECODABLE,
    );
    assert.equal(typeof truncated.details.position, 'number');
  });

  test('a missing required field is MISSING_FIELD naming its path, nested too', async () => {
    const { decode } = decoderWith();
    const { tenant: _tenant, ...withoutTenant } = event;
    const error = await rejectsWith(
      decode({ topic, value: json(withoutTenant), timestamp: 1 }),
      ErrorCodes.MISSING_FIELD,
      /missing field tenant/,
    );
    assert.equal(error.details.path, 'tenant');
    const nested = await rejectsWith(
      decode({ topic, value: json({ ...event, merchant: { country: 'FR' } }), timestamp: 1 }),
      ErrorCodes.MISSING_FIELD,
      /merchant\.id/,
    );
    assert.equal(nested.details.path, 'merchant.id');
  });

  test('a wrong type is SCHEMA_VIOLATION with path, expected type and the (truncated) value', async () => {
    const { decode } = decoderWith();
    const error = await rejectsWith(
      decode({ topic, value: json({ ...event, amount: '42.5' }), timestamp: 1 }),
      ErrorCodes.SCHEMA_VIOLATION,
      /amount: expected double, got "42\.5"/,
    );
    assert.equal(error.details.path, 'amount');
    const long = await rejectsWith(
      decode({ topic, value: json({ ...event, note: { text: 'x'.repeat(500) } }), timestamp: 1 }),
      ErrorCodes.SCHEMA_VIOLATION,
      /note: expected null \| string/,
      /…/,
    );
    assert.ok(long.message.length < 400, `message of ${long.message.length} chars`);
    await rejectsWith(
      decode({ topic, value: Buffer.from('[1,2]'), timestamp: 1 }),
      ErrorCodes.SCHEMA_VIOLATION,
      /\(root\): expected record dev\.patternflow\.test\.DemoEvent/,
    );
  });

  test('regression: a JSON array is rejected whole, not read field by field (Array.prototype.at)', async () => {
    const { decode } = decoderWith();
    const error = await rejectsWith(
      decode({ topic, value: Buffer.from('[]'), timestamp: 1 }),
      ErrorCodes.SCHEMA_VIOLATION,
    );
    assert.equal(error.details.path, '');
    assert.doesNotMatch(error.message, /native code/);
  });

  test('adapter errors: PipelineErrors pass through, anything else becomes INVALID_FIELD', async () => {
    const { decode } = decoderWith();
    await rejectsWith(
      decode({ topic, value: json({ ...event, amount: -1 }), timestamp: 1 }),
      ErrorCodes.INVALID_FIELD,
      /negative/,
    );
    const wrapped = await rejectsWith(
      decode({ topic, value: json({ ...event, event_id: 'explode' }), timestamp: 1 }),
      ErrorCodes.INVALID_FIELD,
      /'demo' could not normalize/,
    );
    assert.ok(wrapped.cause instanceof TypeError);
  });

  test('codec failures propagate: an unknown schema id is a record error, an outage is not', async () => {
    const { decode } = decoderWith();
    const unknown = await rejectsWith(
      decode({ topic, value: framed(8, demoSchema, event), timestamp: 1 }),
      ErrorCodes.UNKNOWN_SCHEMA_ID,
    );
    assert.equal(dispositionOf(unknown), 'dead-letter');
    const outage = await rejectsWith(
      decode({ topic, value: framed(503, demoSchema, event), timestamp: 1 }),
      ErrorCodes.REGISTRY_UNAVAILABLE,
    );
    assert.equal(dispositionOf(outage), 'retry');
  });
});

describe('ingest decoder: configuration', () => {
  test('an invalid raw schema or size limit fails at construction with CONFIG_INVALID', () => {
    const broken: SourceAdapter = {
      ...demoAdapter,
      source: 'broken',
      rawSchema: { type: 'record', name: 'X' },
    };
    assert.throws(
      () => decoderWith({ adapters: new Map([['broken', broken]]) }),
      (error: unknown) =>
        error instanceof PipelineError &&
        error.code === ErrorCodes.CONFIG_INVALID &&
        /'broken'/.test(error.message),
    );
    assert.throws(
      () => decoderWith({ maxValueBytes: 0 }),
      (error: unknown) => error instanceof PipelineError && error.code === ErrorCodes.CONFIG_INVALID,
    );
  });
});
