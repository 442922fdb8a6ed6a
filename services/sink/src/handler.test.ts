import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dispositionOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import type { InboundRecord } from '@patternflow/kafka';
import type { RoutedPattern } from '@patternflow/records';
import type { SchemaDecoder } from '@patternflow/registry';
import { Counter, Histogram, Registry } from 'prom-client';
import { createSinkHandler } from './handler.ts';

const routed = (id: string, payload = '{}'): RoutedPattern => ({
  id,
  source: 'payments',
  kind: 'card_payment',
  event_time: 1,
  ingest_time: 1000,
  tenant: 't',
  tier: 'free',
  region: 'eu-west',
  attributes: {},
  payload,
  payload_format: 'JSON',
  payload_schema_id: null,
  inference: {
    label: 'legit',
    score: 0.9,
    scores: { legit: 0.9, fraud: 0.1 },
    model_name: 'm',
    model_version: '1',
    model_sha256: 'c0ffee',
    inferred_at: 2,
  },
  route: { lane: 'bulk', rule: 'default', policy_version: 'v1', routed_at: 3 },
});

const inbound = (id: string, offset: number): InboundRecord => ({
  topic: 'patterns.routed.bulk',
  partition: 0,
  offset: String(offset),
  timestamp: 0,
  key: Buffer.from(id),
  value: Buffer.from(id),
  headers: {},
});

// The fake decoder maps a value "id" to the routed record; "garbage" does not decode.
const decoder: SchemaDecoder = {
  async decode(buffer) {
    const id = buffer.toString();
    if (id === 'garbage') throw new PipelineError(ErrorCodes.VALUE_NOT_DECODABLE, 'not Avro');
    return { schemaId: 1, value: routed(id, id.startsWith('nul') ? '{"a":"\\u0000"}' : '{}') };
  },
};

function metrics() {
  const registry = new Registry();
  return {
    rows: new Counter({ name: 'rows', help: 'h', labelNames: ['lane', 'result'], registers: [registry] }),
    latency: new Histogram({ name: 'lat', help: 'h', labelNames: ['lane'], registers: [registry] }),
  };
}

const dataError = () =>
  new PipelineError(ErrorCodes.SINK_REJECTED, 'unsupported Unicode escape sequence (SQLSTATE 22P05)', {
    details: { sqlstate: '22P05' },
  });

test('a batch is written once and counted as inserted or duplicate', async () => {
  const written: string[][] = [];
  const m = metrics();
  const handler = createSinkHandler({
    decoder,
    ...m,
    store: {
      async writeBatch(records) {
        written.push(records.map((r) => r.id));
        return { inserted: 1, duplicates: 1, insertedIds: ['a'], coldFiles: [] };
      },
    },
  });
  const result = await handler([inbound('a', 0), inbound('b', 1), inbound('garbage', 2)]);
  assert.deepEqual(written, [['a', 'b']]);
  assert.deepEqual(result.messages, []);
  assert.deepEqual(
    result.deadLetters.map((d) => d.error.code),
    [ErrorCodes.VALUE_NOT_DECODABLE],
  );
  const rows = await m.rows.get();
  assert.deepEqual(rows.values.map((v) => [v.labels.result, v.value]).sort(), [
    ['duplicate', 1],
    ['inserted', 1],
  ]);
});

test('a row PostgreSQL refuses is dead-lettered alone; the rest of the batch is stored', async () => {
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    store: {
      async writeBatch(records) {
        if (records.some((r) => r.id.startsWith('nul'))) throw dataError();
        return {
          inserted: records.length,
          duplicates: 0,
          insertedIds: records.map((r) => r.id),
          coldFiles: [],
        };
      },
    },
  });
  const result = await handler([inbound('a', 0), inbound('nul1', 1), inbound('b', 2)]);
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [['1', ErrorCodes.SINK_REJECTED]],
  );
  assert.match(result.deadLetters[0]!.error.message, /nul1/);
});

test('an outage is not a bad record: the error propagates for the runner to retry', async () => {
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    store: {
      async writeBatch() {
        throw new PipelineError(ErrorCodes.SINK_UNAVAILABLE, 'connection refused', {
          details: { nodeCode: 'ECONNREFUSED' },
        });
      },
    },
  });
  await assert.rejects(
    handler([inbound('a', 0)]),
    (error: PipelineError) => error.code === ErrorCodes.SINK_UNAVAILABLE && dispositionOf(error) === 'retry',
  );
});

test('a COMMIT of unknown outcome is not a bad record either: it propagates', async () => {
  let calls = 0;
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    store: {
      async writeBatch() {
        calls += 1;
        throw new PipelineError(ErrorCodes.SINK_COMMIT_UNKNOWN, 'COMMIT got no answer');
      },
    },
  });
  await assert.rejects(
    handler([inbound('a', 0), inbound('b', 1)]),
    (error: PipelineError) => error.code === ErrorCodes.SINK_COMMIT_UNKNOWN,
  );
  assert.equal(calls, 1, 'no record-by-record retry');
});

test('a record the store cannot make a row of (PF_RECORD_UNEXPECTED) is dead-lettered alone, with that code', async () => {
  const written: string[][] = [];
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    store: {
      async writeBatch(records) {
        if (records.some((r) => r.id === 'odd')) {
          throw new PipelineError(ErrorCodes.RECORD_UNEXPECTED, 'unexpected TypeError: x is not a function');
        }
        written.push(records.map((r) => r.id));
        return {
          inserted: records.length,
          duplicates: 0,
          insertedIds: records.map((r) => r.id),
          coldFiles: [],
        };
      },
    },
  });
  const result = await handler([inbound('a', 0), inbound('odd', 1), inbound('b', 2)]);
  assert.deepEqual(written, [['a'], ['b']]);
  assert.deepEqual(
    result.deadLetters.map((d) => [d.record.offset, d.error.code]),
    [['1', ErrorCodes.RECORD_UNEXPECTED]],
  );
  assert.match(result.deadLetters[0]!.error.message, /record odd was not stored: unexpected TypeError/);
});

test('chunks handled at once share one transaction, and each learns which of its rows were new', async () => {
  const written: string[][] = [];
  const m = metrics();
  const handler = createSinkHandler({
    decoder,
    ...m,
    store: {
      async writeBatch(records) {
        written.push(records.map((r) => r.id));
        const insertedIds = records.map((r) => r.id).filter((id) => id !== 'b');
        return { inserted: insertedIds.length, duplicates: 1, insertedIds, coldFiles: [] };
      },
    },
  });
  const [first, second] = await Promise.all([
    handler([inbound('a', 0), inbound('b', 1)]),
    handler([inbound('c', 0)]),
  ]);
  assert.deepEqual(
    written.map((ids) => ids.sort()),
    [['a', 'b', 'c']],
    'one transaction for both chunks',
  );
  assert.deepEqual(first.deadLetters, []);
  assert.deepEqual(second.deadLetters, []);
  const counts = (await m.rows.get()).values.map((v) => `${v.labels.result}=${v.value}`).sort();
  assert.deepEqual(counts, ['duplicate=1', 'inserted=2']);
});

test("a record refused in a shared transaction dead-letters only itself, not the other chunk's rows", async () => {
  const committed: string[] = [];
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    store: {
      async writeBatch(records) {
        if (records.some((r) => r.id.startsWith('nul'))) throw dataError();
        committed.push(...records.map((r) => r.id));
        return {
          inserted: records.length,
          duplicates: 0,
          insertedIds: records.map((r) => r.id),
          coldFiles: [],
        };
      },
    },
  });
  const [clean, dirty] = await Promise.all([
    handler([inbound('a', 0)]),
    handler([inbound('nul-1', 0), inbound('d', 1)]),
  ]);
  assert.deepEqual(
    clean.deadLetters,
    [],
    'the clean chunk shared the refused transaction, and is stored alone',
  );
  assert.deepEqual(
    dirty.deadLetters.map((d) => d.record.offset),
    ['0'],
  );
  assert.deepEqual(committed.sort(), ['a', 'd']);
});

test('an expedited chunk is written beside a normal transaction in flight, not after it', async () => {
  let releaseBulk: () => void = () => {};
  const bulkHeld = new Promise<void>((resolve) => {
    releaseBulk = resolve;
  });
  const committed: string[] = [];
  const handler = createSinkHandler({
    decoder,
    ...metrics(),
    expeditedTopics: new Set(['patterns.routed.critical']),
    store: {
      async writeBatch(records) {
        if (records.some((r) => r.id === 'bulk-1')) await bulkHeld;
        committed.push(...records.map((r) => r.id));
        return {
          inserted: records.length,
          duplicates: 0,
          insertedIds: records.map((r) => r.id),
          coldFiles: [],
        };
      },
    },
  });
  const bulk = handler([inbound('bulk-1', 0)]);
  await new Promise((resolve) => setImmediate(resolve));
  await handler([{ ...inbound('crit-1', 0), topic: 'patterns.routed.critical' }]);
  assert.deepEqual(committed, ['crit-1'], 'the critical row is stored while the bulk transaction still runs');
  releaseBulk();
  await bulk;
  assert.deepEqual(committed, ['crit-1', 'bulk-1']);
});
