import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { inboundRecord, normalizedPattern } from '@patternflow/fixtures';
import { createBatcher } from '@patternflow/kafka';
import type { PredictionOutcome } from '@patternflow/models';
import { parseTraceparent } from '@patternflow/observability';
import { loadPolicy } from '@patternflow/policy';
import type { TaggedPattern } from '@patternflow/records';
import type { SchemaDecoder, SchemaEncoder, SchemaExtender } from '@patternflow/registry';
import { createTagHandler, type FeatureRow } from './handler.ts';

const normalized = (id: string, source: string) =>
  normalizedPattern({ id, source, attributes: { amount: id === 'nan' ? Number.NaN : 10 } });

const inbound = (value: string, offset: number) =>
  inboundRecord({
    topic: 'patterns.normalized',
    offset: String(offset),
    value,
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  });

const decoder: SchemaDecoder = {
  async decode(buffer) {
    const [id, source] = buffer.toString().split(':');
    return { schemaId: 1, value: normalized(id!, source!) };
  },
};
const encoded: TaggedPattern[] = [];
// Re-frames like the real extender, except for records of source "legacy", whose frames
// stand for an older schema version and need a full encode.
const extender: SchemaExtender = {
  schemaId: 3,
  baseSchemaId: 1,
  extend: (frame, appended) =>
    frame.toString().endsWith(':legacy')
      ? undefined
      : Buffer.concat([frame, Buffer.from(JSON.stringify(appended))]),
};
const encoder: SchemaEncoder = {
  schemaId: 2,
  encode(value) {
    encoded.push(value as TaggedPattern);
    return Buffer.from('x');
  },
};

test('records get the model label, scores and version; bad features and missing models are dead-lettered alone', async () => {
  const runs: FeatureRow[][] = [];
  const inference = createBatcher<FeatureRow, PredictionOutcome>({
    maxSize: 100,
    run: async (rows) => {
      runs.push(rows);
      return rows.map(() => ({
        ok: true,
        prediction: {
          label: 'fraud',
          score: 0.8,
          scores: { fraud: 0.8, legit: 0.2 },
          modelName: 'payments-gbt',
          modelVersion: '3',
          modelSha256: 'ab'.repeat(32),
        },
      }));
    },
  });
  const handler = createTagHandler({
    decoder,
    fullDecoder: decoder,
    encoder,
    extender,
    taggedTopic: 'patterns.tagged',
    extractFeatures: (record) => {
      if (Number.isNaN(record.attributes.amount)) {
        throw new PipelineError(ErrorCodes.INVALID_FEATURES, 'amount is NaN');
      }
      return { modelKey: record.source, values: new Float32Array([1, 2]) };
    },
    hasModel: (key) => key === 'payments' || key === 'legacy',
    inference,
    observe: (source, prediction, row) => observed.push([source, prediction.label, [...row.values]]),
    now: () => 42,
  });
  const observed: [string, string, number[]][] = [];
  const result = await handler([
    inbound('a:payments', 0),
    inbound('nan:payments', 1),
    inbound('b:weather', 2),
    inbound('c:legacy', 3),
  ]);
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [
      ['1', ErrorCodes.INVALID_FEATURES],
      ['2', ErrorCodes.MODEL_MISSING],
    ],
  );
  assert.equal(runs.length, 1, 'one model call for the chunk');
  assert.equal(runs[0]!.length, 2);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['a', 'c'],
  );
  const appended = JSON.parse(result.messages[0]!.value.toString().slice('a:payments'.length));
  assert.equal(appended.inference.label, 'fraud', 'the inference is appended to the input bytes');
  assert.deepEqual(
    encoded.map((r) => r.id),
    ['c'],
    'only the record of another schema version is re-encoded whole',
  );
  assert.deepEqual(encoded.at(-1)!.inference, {
    label: 'fraud',
    score: 0.8,
    scores: { fraud: 0.8, legit: 0.2 },
    model_name: 'payments-gbt',
    model_version: '3',
    model_sha256: 'ab'.repeat(32),
    inferred_at: 42,
    shadow: null,
  });
  const trace = parseTraceparent(result.messages[0]!.headers.traceparent);
  assert.equal(trace?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'the trace continues');
  assert.deepEqual(
    observed,
    [
      ['payments', 'fraud', [1, 2]],
      ['legacy', 'fraud', [1, 2]],
    ],
    'the drift monitor sees each labelled record with its features, not the dead-lettered ones',
  );
});

test('a row the runtime refuses is dead-lettered with the runtime error', async () => {
  const inference = createBatcher<FeatureRow, PredictionOutcome>({
    maxSize: 10,
    run: async (rows) =>
      rows.map(() => ({
        ok: false,
        error: new PipelineError(ErrorCodes.INVALID_FEATURES, 'expected 12 features, got 2'),
      })),
  });
  const handler = createTagHandler({
    decoder,
    fullDecoder: decoder,
    encoder,
    extender,
    taggedTopic: 'patterns.tagged',
    extractFeatures: () => ({ modelKey: 'payments', values: new Float32Array(2) }),
    hasModel: () => true,
    inference,
  });
  const result = await handler([inbound('a:payments', 0)]);
  assert.equal(result.messages.length, 0);
  assert.match(result.deadLetters[0]!.error.message, /expected 12 features/);
});

test('whatever throws while one record is handled dead-letters that record alone (PF_RECORD_UNEXPECTED)', async () => {
  const inference = createBatcher<FeatureRow, PredictionOutcome>({
    maxSize: 10,
    run: async (rows) =>
      rows.map(() => ({
        ok: true,
        prediction: {
          label: 'fraud',
          score: 0.8,
          scores: {},
          modelName: 'm',
          modelVersion: '1',
          modelSha256: 'ab'.repeat(32),
        },
      })),
  });
  const handler = createTagHandler({
    // "garbage" makes the decoder itself trip (as an avsc bug would)
    decoder: {
      async decode(buffer) {
        if (buffer.toString() === 'garbage') throw new RangeError('invalid array length');
        return decoder.decode(buffer);
      },
    },
    fullDecoder: decoder,
    encoder,
    // the record "bad-frame" cannot be framed: its output fails schema validation
    extender: {
      ...extender,
      extend: (frame, appended) => {
        if (frame.toString().startsWith('bad-frame')) {
          throw new PipelineError(ErrorCodes.SCHEMA_VIOLATION, 'inference.score is not a double');
        }
        return extender.extend(frame, appended);
      },
    },
    taggedTopic: 'patterns.tagged',
    extractFeatures: (record) => {
      if (record.id === 'typo') throw new TypeError("Cannot read properties of undefined (reading 'amount')");
      return { modelKey: record.source, values: new Float32Array([1]) };
    },
    hasModel: () => true,
    inference,
  });
  const result = await handler([
    inbound('a:payments', 0),
    inbound('typo:payments', 1),
    inbound('garbage', 2),
    inbound('bad-frame:payments', 3),
    inbound('b:payments', 4),
  ]);
  assert.deepEqual(
    result.messages.map((m) => m.key),
    ['a', 'b'],
  );
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [
      ['2', ErrorCodes.RECORD_UNEXPECTED],
      ['1', ErrorCodes.RECORD_UNEXPECTED],
      ['3', ErrorCodes.SCHEMA_VIOLATION],
    ],
  );
  assert.match(result.deadLetters[0]!.error.message, /RangeError: invalid array length/);
  assert.match(result.deadLetters[1]!.error.message, /TypeError: Cannot read properties of undefined/);
});

test('a dependency failure while handling a record still fails the whole chunk (retried)', async () => {
  const inference = createBatcher<FeatureRow, PredictionOutcome>({
    maxSize: 10,
    run: async (rows) =>
      rows.map(() => ({ ok: false, error: new PipelineError(ErrorCodes.INVALID_FEATURES, 'x') })),
  });
  const handler = createTagHandler({
    decoder: {
      async decode() {
        throw new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'registry down');
      },
    },
    fullDecoder: decoder,
    encoder,
    extender,
    taggedTopic: 'patterns.tagged',
    extractFeatures: () => ({ modelKey: 'payments', values: new Float32Array(1) }),
    hasModel: () => true,
    inference,
  });
  await assert.rejects(
    handler([inbound('a:payments', 0)]),
    (error: unknown) => error instanceof PipelineError && error.code === ErrorCodes.REGISTRY_UNAVAILABLE,
  );
});

test("with the repository's policy: an enterprise record stays expedited, a free-tier confident fraud becomes expedited", async () => {
  const policy = loadPolicy(new URL('../../../policies/routing.yaml', import.meta.url).pathname);
  // id → [tier, label, score]
  const cases = new Map<string, [string, string, number]>([
    ['ent', ['enterprise', 'legit', 0.99]],
    ['fraud', ['free', 'fraud', 0.95]],
    ['weak', ['free', 'fraud', 0.5]],
    ['ok', ['free', 'legit', 0.99]],
  ]);
  const caseOf = (id: string) => cases.get(id)!;
  const inference = createBatcher<FeatureRow, PredictionOutcome>({
    maxSize: 10,
    run: async (rows) =>
      rows.map((row) => {
        const [, label, score] = caseOf(row.id);
        return {
          ok: true,
          prediction: {
            label,
            score,
            scores: { [label]: score },
            modelName: 'payments-gbt',
            modelVersion: '3',
            modelSha256: 'ab'.repeat(32),
          },
        };
      }),
  });
  const asked: string[] = [];
  const handler = createTagHandler({
    decoder: {
      async decode(buffer) {
        const id = buffer.toString();
        return { schemaId: 1, value: normalizedPattern({ id, source: 'payments', tier: caseOf(id)[0] }) };
      },
    },
    fullDecoder: decoder,
    encoder,
    extender,
    taggedTopic: 'patterns.tagged',
    // As services/inference-tagger/src/service.ts asks the policy.
    expedited: {
      topic: 'patterns.tagged.priority',
      applies: (record, inference) => {
        asked.push(`${record.id}:${inference.label}`);
        return policy.expedites({
          source: record.source,
          kind: record.kind,
          tenant: record.tenant,
          tier: record.tier,
          region: record.region,
          inference,
        });
      },
    },
    extractFeatures: () => ({ modelKey: 'payments', values: new Float32Array(2) }),
    hasModel: () => true,
    inference,
  });
  const result = await handler([
    inboundRecord({ topic: 'patterns.normalized.priority', offset: '0', value: 'ent' }),
    inboundRecord({ topic: 'patterns.normalized', offset: '0', value: 'fraud' }),
    inboundRecord({ topic: 'patterns.normalized', offset: '1', value: 'weak' }),
    inboundRecord({ topic: 'patterns.normalized', offset: '2', value: 'ok' }),
  ]);
  assert.deepEqual(
    result.messages.map((m) => [m.key, m.topic]),
    [
      ['ent', 'patterns.tagged.priority'],
      ['fraud', 'patterns.tagged.priority'],
      ['weak', 'patterns.tagged'],
      ['ok', 'patterns.tagged'],
    ],
  );
  assert.deepEqual(asked, ['ent:legit', 'fraud:fraud', 'weak:fraud', 'ok:legit'], 'asked with the label');
  // Either topic carries the same framing: the input bytes with the inference appended.
  for (const m of result.messages) {
    assert.equal(
      JSON.parse(m.value.toString().slice(String(m.key).length)).inference.label,
      caseOf(String(m.key))[1],
    );
  }
  assert.equal(result.deadLetters.length, 0);
});
