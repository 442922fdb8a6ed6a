import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { inboundRecord, normalizedPattern } from '@patternflow/fixtures';
import { parseTraceparent } from '@patternflow/observability';
import { loadPolicy } from '@patternflow/policy';
import { createIngestHandler } from './handler.ts';
import { createIngestDecoder } from './ingest.ts';

const inbound = (value: string, headers: Record<string, string> = {}) =>
  inboundRecord({ partition: 1, offset: '7', timestamp: 1000, value, headers });

const decode = async ({ value, timestamp }: { value: Buffer | null; timestamp: number }) => {
  const text = String(value);
  if (text === 'bad') throw new PipelineError(ErrorCodes.VALUE_NOT_DECODABLE, 'not JSON');
  if (text === 'down') throw new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'registry down');
  return normalizedPattern({ id: `id-${text}`, source: 'payments', ingest_time: timestamp });
};

const encoder = { schemaId: 1, encode: (value: unknown) => Buffer.from(JSON.stringify(value)) };

test('valid records go to the normalized topic keyed by id with a new span; bad ones are dead-lettered', async () => {
  const handler = createIngestHandler({ decode, encoder, normalizedTopic: 'patterns.normalized' });
  const result = await handler([
    inbound('x', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }),
    inbound('bad'),
    inbound('y'),
  ]);
  assert.deepEqual(
    result.messages.map((m) => [m.topic, m.key]),
    [
      ['patterns.normalized', 'id-x'],
      ['patterns.normalized', 'id-y'],
    ],
  );
  assert.equal(
    parseTraceparent(result.messages[0]!.headers.traceparent)?.traceId,
    '4bf92f3577b34da6a3ce929d0e0e4736',
  );
  assert.ok(
    parseTraceparent(result.messages[1]!.headers.traceparent),
    'a record without trace context starts one',
  );
  assert.deepEqual(
    result.deadLetters.map((d) => d.error.code),
    [ErrorCodes.VALUE_NOT_DECODABLE],
  );
});

test('a registry outage fails the chunk (to be retried), it does not dead-letter the record', async () => {
  const handler = createIngestHandler({ decode, encoder, normalizedTopic: 'patterns.normalized' });
  await assert.rejects(
    handler([inbound('down')]),
    (error: PipelineError) => dispositionOf(error) === 'retry',
  );
});

test('a record that makes the decoder throw something unexpected is dead-lettered as PF_RECORD_UNEXPECTED', async () => {
  const handler = createIngestHandler({
    decode: async (input) => {
      if (String(input.value) === 'hostile')
        throw new TypeError("Cannot read properties of null (reading 'id')");
      return decode(input);
    },
    encoder,
    normalizedTopic: 'patterns.normalized',
  });
  const result = await handler([inbound('x'), inbound('hostile'), inbound('y')]);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['id-x', 'id-y'],
  );
  assert.equal(result.deadLetters.length, 1);
  const [dead] = result.deadLetters;
  assert.equal(dead!.error.code, ErrorCodes.RECORD_UNEXPECTED);
  assert.match(dead!.error.message, /TypeError: Cannot read properties of null/);
  assert.ok(dead!.error.cause instanceof TypeError);
});

test('regression: a JSON value nested 100 000 levels deep is dead-lettered as too deep, it no longer escapes the handler as a RangeError', async () => {
  // The real decoder: JSON.parse copes with the depth, but describing the bad value for the
  // error message recursed until the stack overflowed, and the RangeError failed the whole
  // chunk, forever (a crash loop on one record). The depth limit now refuses it unparsed.
  const decodeIngest = createIngestDecoder({
    adapters: new Map([
      [
        'payments',
        {
          source: 'payments',
          rawSchema: { type: 'record', name: 'P', fields: [{ name: 'id', type: 'string' }] },
          normalize: (raw) => ({
            id: raw.id as string,
            source: 'payments',
            kind: 'k',
            event_time: 1,
            tenant: 't',
            tier: 'free',
            region: 'eu-west',
            attributes: {},
          }),
        },
      ],
    ]),
    codec: { decoderFor: () => ({ decode: async () => assert.fail('not Avro') }) },
    maxValueBytes: 1024 * 1024,
  });
  const handler = createIngestHandler({
    decode: decodeIngest,
    encoder,
    normalizedTopic: 'patterns.normalized',
  });
  const depth = 100_000;
  const deepArray = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const deepObject = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const result = await handler([inbound(deepArray), inbound(deepObject), inbound('{"id":"fine"}')]);
  assert.deepEqual(
    result.deadLetters.map((d) => d.error.code),
    [ErrorCodes.VALUE_TOO_DEEP, ErrorCodes.VALUE_TOO_DEEP],
  );
  assert.match(result.deadLetters[0]!.error.message, /nests deeper than 32 levels/);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['fine'],
    'the records around it are not affected',
  );
});

test('a record the expedite condition holds for goes to the priority topic, the same bytes under the same key', async () => {
  const tiers = new Map([
    ['x', 'enterprise'],
    ['y', 'free'],
  ]);
  const decodeTiered = async (input: { value: Buffer | null; timestamp: number }) => {
    const tier = tiers.get(String(input.value));
    if (tier === undefined) return decode(input);
    return normalizedPattern({ id: `id-${String(input.value)}`, source: 'payments', tier });
  };
  const seen: string[] = [];
  const handler = createIngestHandler({
    decode: decodeTiered,
    encoder,
    normalizedTopic: 'patterns.normalized',
    expedited: {
      topic: 'patterns.normalized.priority',
      applies: (record) => {
        seen.push(record.id);
        return record.tier === 'enterprise';
      },
    },
  });
  const result = await handler([inbound('x'), inbound('bad'), inbound('y')]);
  assert.deepEqual(
    result.messages.map((m) => [m.topic, m.key]),
    [
      ['patterns.normalized.priority', 'id-x'],
      ['patterns.normalized', 'id-y'],
    ],
  );
  assert.deepEqual(seen, ['id-x', 'id-y'], 'asked once per decoded record, never for a dead letter');
  const [expedited, plain] = result.messages.map((m) => JSON.parse(String(m.value)));
  assert.equal(expedited.tier, 'enterprise');
  assert.equal(plain.tier, 'free');
  assert.equal(result.deadLetters.length, 1);
});

test("with the repository's policy, ingest expedites enterprise tenants only: it knows no label or score", async () => {
  const policy = loadPolicy(new URL('../../../policies/routing.yaml', import.meta.url).pathname);
  const records = new Map([
    ['ent', normalizedPattern({ id: 'ent', tier: 'enterprise' })],
    ['free', normalizedPattern({ id: 'free', tier: 'free' })],
    ['biz', normalizedPattern({ id: 'biz', tier: 'business', source: 'netflow', kind: 'flow' })],
  ]);
  const handler = createIngestHandler({
    decode: async ({ value }) => records.get(String(value))!,
    encoder,
    normalizedTopic: 'patterns.normalized',
    expedited: { topic: 'patterns.normalized.priority', applies: (record) => policy.expedites(record) },
  });
  const result = await handler([inbound('ent'), inbound('free'), inbound('biz')]);
  assert.deepEqual(
    result.messages.map((m) => [m.key, m.topic]),
    [
      ['ent', 'patterns.normalized.priority'],
      ['free', 'patterns.normalized'],
      ['biz', 'patterns.normalized'],
    ],
  );
});
