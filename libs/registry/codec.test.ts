import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import type { RegistryClient } from './client.ts';
import { createCodecOnClient } from './codec.ts';
import { isConfluentFramed } from './wire.ts';

const paymentV1 = {
  type: 'record',
  name: 'Payment',
  namespace: 'dev.patternflow.test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
};
const paymentV2 = {
  ...paymentV1,
  fields: [...paymentV1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
};
const unrelated = {
  type: 'record',
  name: 'Payment',
  namespace: 'dev.patternflow.test',
  fields: [{ name: 'id', type: 'int' }],
};

/** An in-memory registry that counts its requests and can be told to fail. */
function memoryRegistry() {
  const schemas = new Map<number, object>();
  const subjects = new Map<string, number>();
  const calls = { register: 0, writerSchema: 0 };
  let failure: PipelineError | undefined;
  const client: RegistryClient = {
    async register(subject, schema) {
      calls.register += 1;
      await Promise.resolve();
      const key = `${subject}/${JSON.stringify(schema)}`;
      let id = subjects.get(key);
      if (id === undefined) {
        id = schemas.size + 1;
        schemas.set(id, schema);
        subjects.set(key, id);
      }
      return id;
    },
    async writerSchema(id) {
      calls.writerSchema += 1;
      await new Promise((resolve) => setImmediate(resolve));
      if (failure) throw failure;
      const schema = schemas.get(id);
      if (!schema) {
        throw new PipelineError(ErrorCodes.UNKNOWN_SCHEMA_ID, `schema id ${id} is unknown`, {
          details: { schemaId: id },
        });
      }
      return schema;
    },
  };
  return {
    client,
    calls,
    failWith(error: PipelineError | undefined) {
      failure = error;
    },
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof PipelineError, `expected a PipelineError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

const payment = { id: 'p-1', amount: 12.5, at: 1_700_000_000_123, note: 'coffee' };

describe('schema codec (in-memory registry)', () => {
  test('encodes into the Confluent wire format and decodes back, timestamps as plain numbers', async () => {
    const { client } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const encoder = await codec.encoderFor('t-value', paymentV1);
    const buffer = encoder.encode(payment);
    assert.equal(buffer[0], 0);
    assert.equal(buffer.readInt32BE(1), encoder.schemaId);
    assert.ok(isConfluentFramed(buffer));
    const decoded = await codec.decoderFor(paymentV1).decode(buffer);
    assert.equal(decoded.schemaId, encoder.schemaId);
    assert.deepEqual({ ...(decoded.value as object) }, payment);
    assert.equal(typeof (decoded.value as { at: unknown }).at, 'number');
  });

  test('encode returns a fresh buffer per value, also past the scratch size', async () => {
    const codec = createCodecOnClient(memoryRegistry().client);
    const encoder = await codec.encoderFor('t-value', paymentV1);
    const first = encoder.encode(payment);
    const copy = Buffer.from(first);
    const big = { ...payment, note: 'x'.repeat(20_000) };
    const second = encoder.encode(big);
    assert.deepEqual(first, copy, 'the first buffer is untouched by the second encode');
    const decoder = codec.decoderFor(paymentV1);
    assert.equal(((await decoder.decode(second)).value as { note: string }).note.length, 20_000);
  });

  test('encode of an invalid value names the path', async () => {
    const codec = createCodecOnClient(memoryRegistry().client);
    const encoder = await codec.encoderFor('t-value', paymentV1);
    assert.throws(
      () => encoder.encode({ ...payment, amount: 'twelve' }),
      (error: unknown) =>
        error instanceof PipelineError &&
        error.code === ErrorCodes.SCHEMA_VIOLATION &&
        /amount/.test(error.message),
    );
  });

  test('register is idempotent and concurrent registrations share one request', async () => {
    const { client, calls } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const ids = await Promise.all([
      codec.register('t-value', paymentV1),
      codec.register('t-value', paymentV1),
      codec.encoderFor('t-value', paymentV1).then((e) => e.schemaId),
    ]);
    assert.deepEqual(ids, [1, 1, 1]);
    assert.equal(calls.register, 1);
    await rejectsWith(codec.register('bad-value', { type: 'record' }), ErrorCodes.CONFIG_INVALID);
  });

  test('a v1 writer decodes into a v2 reader with the default filled in, and v2 into v1', async () => {
    const { client } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const v1 = await codec.encoderFor('t-value', paymentV1);
    const v2 = await codec.encoderFor('t-value', paymentV2);
    const asV2 = await codec.decoderFor(paymentV2).decode(v1.encode(payment));
    assert.equal((asV2.value as { currency: string }).currency, 'EUR');
    assert.equal(asV2.schemaId, v1.schemaId);
    const asV1 = await codec.decoderFor(paymentV1).decode(v2.encode({ ...payment, currency: 'USD' }));
    assert.deepEqual({ ...(asV1.value as object) }, payment);
  });

  test('concurrent decodes of a new id share one registry lookup; later ones hit the cache', async () => {
    const { client, calls } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const buffer = (await codec.encoderFor('t-value', paymentV1)).encode(payment);
    const decoderA = codec.decoderFor(paymentV2);
    const decoderB = codec.decoderFor(paymentV1);
    await Promise.all([decoderA.decode(buffer), decoderA.decode(buffer), decoderB.decode(buffer)]);
    await decoderA.decode(buffer);
    assert.equal(calls.writerSchema, 1);
  });

  test('short buffers and a wrong magic byte are VALUE_NOT_DECODABLE', async () => {
    const decoder = createCodecOnClient(memoryRegistry().client).decoderFor(paymentV1);
    await rejectsWith(decoder.decode(Buffer.from([0, 0, 0])), ErrorCodes.VALUE_NOT_DECODABLE, /3 bytes/);
    await rejectsWith(
      decoder.decode(Buffer.from([1, 0, 0, 0, 1, 2])),
      ErrorCodes.VALUE_NOT_DECODABLE,
      /magic byte/,
    );
    assert.equal(isConfluentFramed(Buffer.from([0, 0, 0, 1])), false);
    assert.equal(isConfluentFramed(Buffer.from('{"a":1}')), false);
  });

  test('a truncated body, trailing garbage and a garbage body are VALUE_NOT_DECODABLE', async () => {
    const codec = createCodecOnClient(memoryRegistry().client);
    const buffer = (await codec.encoderFor('t-value', paymentV1)).encode(payment);
    const decoder = codec.decoderFor(paymentV1);
    await rejectsWith(
      decoder.decode(buffer.subarray(0, buffer.length - 3)),
      ErrorCodes.VALUE_NOT_DECODABLE,
      /truncated/,
    );
    await rejectsWith(
      decoder.decode(Buffer.concat([buffer, Buffer.from([1, 2])])),
      ErrorCodes.VALUE_NOT_DECODABLE,
      /2 trailing bytes/,
    );
    const garbage = Buffer.concat([buffer.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]);
    await rejectsWith(decoder.decode(garbage), ErrorCodes.VALUE_NOT_DECODABLE);
  });

  test('an unknown id is UNKNOWN_SCHEMA_ID, dead-lettered not retried, with the id', async () => {
    const decoder = createCodecOnClient(memoryRegistry().client).decoderFor(paymentV1);
    const framed = Buffer.from([0, 0, 0, 0x30, 0x39, 2]);
    await assert.rejects(decoder.decode(framed), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.code, ErrorCodes.UNKNOWN_SCHEMA_ID);
      assert.equal(dispositionOf(error), 'dead-letter');
      assert.equal(error.details.schemaId, 12345);
      return true;
    });
  });

  test('an incompatible writer is SCHEMA_VIOLATION', async () => {
    const codec = createCodecOnClient(memoryRegistry().client);
    const buffer = (await codec.encoderFor('other-value', unrelated)).encode({ id: 7 });
    const decoder = codec.decoderFor(paymentV1);
    await rejectsWith(decoder.decode(buffer), ErrorCodes.SCHEMA_VIOLATION, /cannot be read/);
    await rejectsWith(decoder.decode(buffer), ErrorCodes.SCHEMA_VIOLATION);
  });

  test('a registry outage is REGISTRY_UNAVAILABLE and is not cached', async () => {
    const registry = memoryRegistry();
    const codec = createCodecOnClient(registry.client);
    const buffer = (await codec.encoderFor('t-value', paymentV1)).encode(payment);
    registry.failWith(new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'connect ECONNREFUSED'));
    const decoder = codec.decoderFor(paymentV1);
    await assert.rejects(decoder.decode(buffer), (error: unknown) => {
      assert.ok(error instanceof PipelineError);
      assert.equal(error.code, ErrorCodes.REGISTRY_UNAVAILABLE);
      assert.equal(dispositionOf(error), 'retry');
      return true;
    });
    registry.failWith(undefined);
    assert.equal((await decoder.decode(buffer)).schemaId, 1);
  });
});

describe('decodeAsWritten', () => {
  test('decodes any writer schema as written, with one registry lookup per id', async () => {
    const registry = memoryRegistry();
    const codec = createCodecOnClient(registry.client);
    const v2 = (await codec.encoderFor('t-value', paymentV2)).encode({ ...payment, currency: 'CHF' });
    const other = (await codec.encoderFor('other-value', unrelated)).encode({ id: 7 });
    const decoded = await codec.decodeAsWritten(v2);
    assert.deepEqual({ ...(decoded.value as object) }, { ...payment, currency: 'CHF' });
    assert.deepEqual({ ...((await codec.decodeAsWritten(other)).value as object) }, { id: 7 });
    const lookups = registry.calls.writerSchema;
    await codec.decodeAsWritten(v2);
    assert.equal(registry.calls.writerSchema, lookups, 'the second decode of an id is cached');
  });

  test('a value that is not a frame, an unknown id and a garbled body fail with their codes', async () => {
    const codec = createCodecOnClient(memoryRegistry().client);
    await rejectsWith(codec.decodeAsWritten(Buffer.from('{"a":1}')), ErrorCodes.VALUE_NOT_DECODABLE);
    await rejectsWith(codec.decodeAsWritten(Buffer.from([0, 0, 0, 0, 9, 2])), ErrorCodes.UNKNOWN_SCHEMA_ID);
    const good = (await codec.encoderFor('t-value', paymentV1)).encode(payment);
    await rejectsWith(
      codec.decodeAsWritten(good.subarray(0, good.length - 3)),
      ErrorCodes.VALUE_NOT_DECODABLE,
    );
  });
});

describe('extenderFor', () => {
  const extended = {
    ...paymentV1,
    name: 'TaggedPayment',
    fields: [
      ...paymentV1.fields,
      {
        name: 'verdict',
        type: {
          type: 'record',
          name: 'Verdict',
          fields: [
            { name: 'label', type: 'string' },
            { name: 'score', type: 'double' },
          ],
        },
      },
    ],
  };

  test('re-framing the base value plus the appended fields equals encoding the whole value', async () => {
    const { client } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const base = await codec.encoderFor('payments-value', paymentV1);
    const whole = await codec.encoderFor('tagged-value', extended);
    const extender = await codec.extenderFor('tagged-value', extended, 'payments-value', paymentV1);
    assert.equal(extender.baseSchemaId, base.schemaId);
    assert.equal(extender.schemaId, whole.schemaId);
    const value = { id: 'p1', amount: 12.5, at: 1700000000000, note: 'gift' };
    const verdict = { label: 'fraud', score: 0.75 };
    const framed = extender.extend(base.encode(value), { verdict });
    assert.ok(framed);
    assert.deepEqual(framed, whole.encode({ ...value, verdict }));
    const decoded = await codec.decoderFor(extended).decode(framed);
    assert.deepEqual(
      { ...(decoded.value as object), verdict: { ...(decoded.value as { verdict: object }).verdict } },
      {
        ...value,
        verdict,
      },
    );
  });

  test('a frame written with another schema id is not re-framed', async () => {
    const { client } = memoryRegistry();
    const codec = createCodecOnClient(client);
    const other = await codec.encoderFor('payments-v2-value', paymentV2);
    const extender = await codec.extenderFor('tagged-value', extended, 'payments-value', paymentV1);
    assert.equal(
      extender.extend(other.encode({ id: 'p1', amount: 1, at: 1, note: null, currency: 'EUR' }), {
        verdict: { label: 'x', score: 0 },
      }),
      undefined,
    );
  });

  test('a schema that does not start with the base fields is refused at setup', async () => {
    const { client } = memoryRegistry();
    const codec = createCodecOnClient(client);
    await assert.rejects(
      codec.extenderFor('x-value', unrelated, 'payments-value', paymentV1),
      (error: PipelineError) => error.code === ErrorCodes.CONFIG_INVALID,
    );
  });
});
