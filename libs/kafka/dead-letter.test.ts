import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { DeadLetterHeaders, RedriveHeaders, toDeadLetterMessage } from './dead-letter.ts';
import type { InboundRecord } from './records.ts';

test('a dead letter keeps the original key, value and headers (a redrive loop stays visible)', () => {
  const record: InboundRecord = {
    topic: 'patterns.ingest.payments',
    partition: 2,
    offset: '41',
    timestamp: 1_700_000_000_000,
    key: Buffer.from('k-1'),
    value: Buffer.from('{"broken":'),
    headers: {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      [RedriveHeaders.count]: '2',
      [RedriveHeaders.from]: 'patterns.dlq/0:17',
    },
  };
  const error = new PipelineError(ErrorCodes.VALUE_NOT_DECODABLE, 'not JSON');
  const message = toDeadLetterMessage('patterns.dlq', 'ingestor', record, error, 1_700_000_001_000);
  assert.equal(message.topic, 'patterns.dlq');
  assert.deepEqual(message.key, record.key);
  assert.deepEqual(message.value, record.value);
  assert.equal(message.headers[RedriveHeaders.count], '2');
  assert.equal(message.headers[RedriveHeaders.from], 'patterns.dlq/0:17');
  assert.equal(message.headers.traceparent, record.headers.traceparent);
  assert.equal(message.headers[DeadLetterHeaders.reason], ErrorCodes.VALUE_NOT_DECODABLE);
  assert.equal(message.headers[DeadLetterHeaders.sourceTopic], 'patterns.ingest.payments');
  assert.equal(message.headers[DeadLetterHeaders.sourcePartition], '2');
  assert.equal(message.headers[DeadLetterHeaders.sourceOffset], '41');
  assert.equal(message.headers[DeadLetterHeaders.failedAt], '2023-11-14T22:13:21.000Z');
});
