import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { inboundRecord, taggedPattern } from '@patternflow/fixtures';
import { parsePolicy } from '@patternflow/policy';
import type { RoutedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder, SchemaExtender } from '@patternflow/registry';
import { createRouteHandler, type LaneOutput } from './handler.ts';
import { createRouteDecider } from './route.ts';

const policy = parsePolicy(
  `version: "p-1"
lanes: [critical, standard, bulk]
rules:
  - name: fraud
    lane: critical
    when: { label: fraud }
  - name: default
    lane: bulk
`,
  'inline',
);

const tagged = (id: string, label: string) => taggedPattern({ id, inference: { label, score: 0.9 } });

// Values are "id:label[:old]"; ":old" marks a frame of another tagged schema version.
const decoder: SchemaDecoder = {
  async decode(buffer) {
    const [id, label] = buffer.toString().split(':');
    if (id === 'garbage') throw new PipelineError(ErrorCodes.VALUE_NOT_DECODABLE, 'not Avro');
    return { schemaId: 1, value: tagged(id!, label!) };
  },
};
const fullDecoded: string[] = [];
const fullDecoder: SchemaDecoder = {
  async decode(buffer) {
    fullDecoded.push(buffer.toString());
    if (buffer.toString().includes('broken')) {
      throw new PipelineError(ErrorCodes.SCHEMA_VIOLATION, 'field payload has no default');
    }
    return decoder.decode(buffer);
  },
};
const lanes = new Map<string, LaneOutput>(
  ['critical', 'standard', 'bulk'].map((lane) => {
    const extender: SchemaExtender = {
      schemaId: 5,
      baseSchemaId: 1,
      extend: (frame, appended) =>
        frame.toString().endsWith(':old') ? undefined : Buffer.from(`${frame}|${JSON.stringify(appended)}`),
    };
    const encoder: SchemaEncoder = {
      schemaId: 6,
      encode: (value) => Buffer.from(`full|${JSON.stringify((value as RoutedPattern).route)}`),
    };
    return [lane, { topic: `patterns.routed.${lane}`, extender, encoder }];
  }),
);

const inbound = (value: string, offset: number) =>
  inboundRecord({ topic: 'patterns.tagged', offset: String(offset), value });

test('each record goes to its lane with the decision appended; other schema versions are re-encoded', async () => {
  fullDecoded.length = 0;
  const handler = createRouteHandler({
    decoder,
    fullDecoder,
    lanes,
    decider: () => createRouteDecider({ policy, now: () => 7 }),
  });
  const result = await handler([
    inbound('a:fraud', 0),
    inbound('b:legit', 1),
    inbound('garbage', 2),
    inbound('c:fraud:old', 3),
  ]);
  assert.deepEqual(
    result.messages.map((m) => [m.key, m.topic]),
    [
      ['a', 'patterns.routed.critical'],
      ['b', 'patterns.routed.bulk'],
      ['c', 'patterns.routed.critical'],
    ],
  );
  assert.equal(
    result.messages[0]!.value.toString(),
    'a:fraud|{"route":{"lane":"critical","rule":"fraud","policy_version":"p-1","routed_at":7}}',
  );
  assert.equal(result.messages[2]!.value.toString().startsWith('full|'), true);
  assert.deepEqual(fullDecoded, ['c:fraud:old']);
  assert.deepEqual(
    result.deadLetters.map((d) => d.error.code),
    [ErrorCodes.VALUE_NOT_DECODABLE],
  );
});

test('a record readable for routing but not as a whole is dead-lettered alone, not a crash', async () => {
  const decide = createRouteDecider({ policy });
  const handler = createRouteHandler({ decoder, fullDecoder, lanes, decider: () => decide });
  const result = await handler([inbound('x:fraud:broken:old', 0), inbound('y:legit', 1)]);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['y'],
  );
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [['0', ErrorCodes.SCHEMA_VIOLATION]],
  );
});

test('a record the decision or the framing trips over is dead-lettered alone (PF_RECORD_UNEXPECTED), not a crash', async () => {
  const decide = createRouteDecider({ policy });
  const handler = createRouteHandler({
    decoder,
    fullDecoder,
    lanes,
    decider: () => (record) => {
      if (record.id === 'hostile') throw new RangeError('Maximum call stack size exceeded');
      return decide(record);
    },
  });
  const result = await handler([inbound('a:fraud', 0), inbound('hostile:legit', 1), inbound('b:legit', 2)]);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['a', 'b'],
  );
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [['1', ErrorCodes.RECORD_UNEXPECTED]],
  );
  assert.match(result.deadLetters[0]!.error.message, /RangeError: Maximum call stack size exceeded/);
});

test('a fatal failure of the decision is not dead-lettered: it fails the chunk', async () => {
  const handler = createRouteHandler({
    decoder,
    fullDecoder,
    lanes,
    decider: () => () => {
      throw new PipelineError(ErrorCodes.POLICY_INVALID, 'lane "nowhere" is not configured');
    },
  });
  await assert.rejects(
    handler([inbound('a:fraud', 0)]),
    (error: unknown) => error instanceof PipelineError && error.code === ErrorCodes.POLICY_INVALID,
  );
});

test('a policy swapped while a batch is in flight applies from the next batch: one version per batch', async () => {
  const next = parsePolicy(
    `version: "p-2"
lanes: [critical, standard, bulk]
rules:
  - name: everything-standard
    lane: standard
    when: { label: [fraud, legit] }
  - name: default
    lane: standard
`,
    'inline',
  );
  let inForce = createRouteDecider({ policy });
  // The swap lands while the batch's records are being decoded.
  const swappingDecoder: SchemaDecoder = {
    async decode(buffer) {
      if (buffer.toString().startsWith('b:')) inForce = createRouteDecider({ policy: next });
      return decoder.decode(buffer);
    },
  };
  const handler = createRouteHandler({
    decoder: swappingDecoder,
    fullDecoder,
    lanes,
    decider: () => inForce,
  });
  const first = await handler([inbound('a:fraud', 0), inbound('b:legit', 1), inbound('c:fraud', 2)]);
  const second = await handler([inbound('d:fraud', 3)]);
  const versions = (result: Awaited<ReturnType<typeof handler>>) =>
    result.messages.map((m) => JSON.parse(m.value.toString().split('|')[1]!).route.policy_version);
  assert.deepEqual(versions(first), ['p-1', 'p-1', 'p-1']);
  assert.deepEqual(
    first.messages.map((m) => m.topic),
    ['patterns.routed.critical', 'patterns.routed.bulk', 'patterns.routed.critical'],
  );
  assert.deepEqual(versions(second), ['p-2']);
  assert.equal(second.messages[0]!.topic, 'patterns.routed.standard');
});

test('a record of a restricted region whose decision is a forbidden lane is dead-lettered (PF_REGION_FORBIDDEN)', async () => {
  const regional = parsePolicy(
    `version: "p-r"
lanes: [critical, standard, bulk]
regions:
  eu-west: { lanes: [critical, standard] }
rules:
  - name: fraud
    lane: critical
    when: { label: fraud }
  - name: default
    lane: standard
`,
    'inline',
  );
  // A decider that errs as a policy with a bug in the validator would: everything to bulk.
  const buggy = createRouteDecider({
    policy: { ...regional, route: () => ({ lane: 'bulk', rule: 'default' }) },
  });
  const handler = createRouteHandler({ decoder, fullDecoder, lanes, decider: () => buggy });
  const result = await handler([inbound('a:legit', 0)]);
  assert.deepEqual(result.messages, []);
  assert.deepEqual(
    result.deadLetters.map((d) => d.error.code),
    [ErrorCodes.REGION_FORBIDDEN],
  );
  assert.match(result.deadLetters[0]!.error.message, /region "eu-west" to lane bulk/);
});
