import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { decodeValue, toPlain } from './decode.ts';

/** A codec that knows one schema id (7) and decodes every frame of it to `value`. */
const codec = (value: unknown) => ({
  async decodeAsWritten(buffer: Buffer) {
    const id = buffer.readInt32BE(1);
    if (id !== 7) throw new PipelineError(ErrorCodes.UNKNOWN_SCHEMA_ID, `schema id ${id} is unknown`);
    return { schemaId: 7, value };
  },
});
const frame = (id: number) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.from('body')]);

test('Avro frames decode through the registry, into plain data', async () => {
  class AvroRecord {
    id = 'p-1';
    blob = Buffer.from([1, 2, 3]);
    nested = { big: 12n };
  }
  const shown = await decodeValue(frame(7), codec(new AvroRecord()));
  assert.equal(shown.format, 'avro');
  assert.equal(shown.schemaId, 7);
  assert.deepEqual(shown.value, { id: 'p-1', blob: 'AQID', nested: { big: '12' } });
});

test('an Avro frame that does not decode is shown as bytes, with why', async () => {
  const shown = await decodeValue(frame(9), codec({}));
  assert.equal(shown.format, 'binary');
  assert.match(shown.note ?? '', /schema id 9 is unknown/);
  assert.equal(shown.bytes, 9);
});

test('JSON objects, arrays and strings are JSON; bare words are text; other bytes are binary', async () => {
  const none = codec({});
  assert.deepEqual(await decodeValue(Buffer.from(' {"a":[1,"x"]}'), none), {
    format: 'json',
    value: { a: [1, 'x'] },
    bytes: 14,
  });
  assert.equal((await decodeValue(Buffer.from('"quoted"'), none)).format, 'json');
  assert.deepEqual(await decodeValue(Buffer.from('hello 42'), none), {
    format: 'text',
    value: 'hello 42',
    bytes: 8,
  });
  assert.equal((await decodeValue(Buffer.from('{"a":'), none)).format, 'text');
  assert.equal((await decodeValue(Buffer.from([0xff, 0xfe, 0x01]), none)).format, 'binary');
  assert.equal((await decodeValue(Buffer.alloc(0), none)).format, 'empty');
  assert.equal((await decodeValue(null, none)).format, 'null');
});

test('JSON nested 100 000 deep is shown as text, not parsed and printed', async () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const shown = await decodeValue(Buffer.from(deep), codec({}));
  assert.equal(shown.format, 'text');
  assert.match(shown.note ?? '', /deeper than 64/);
});

test('toPlain keeps a "__proto__" map key as a key, never as a prototype', () => {
  const map = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}');
  const plain = toPlain(map) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(plain), Object.prototype);
  assert.deepEqual(Object.keys(plain), ['__proto__', 'ok']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});
