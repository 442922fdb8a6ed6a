import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { inboundRecord, normalizedPattern } from '@patternflow/fixtures';
import { parseTraceparent } from '@patternflow/observability';
import { createIngestHandler } from './handler.ts';

const inbound = (value: string, headers: Record<string, string> = {}) =>
  inboundRecord({ partition: 1, offset: '7', timestamp: 1000, value, headers });

const decode = async ({ value, timestamp }: { value: Buffer | null; timestamp: number }) => {
  const text = String(value);
  if (text === 'bad') throw new PipelineError(ErrorCodes.VALUE_NOT_DECODABLE, 'not JSON');
  if (text === 'down')
    throw new PipelineError(ErrorCodes.REGISTRY_UNAVAILABLE, 'registry down', { retriable: true });
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
  await assert.rejects(handler([inbound('down')]), (error: PipelineError) => error.retriable);
});
