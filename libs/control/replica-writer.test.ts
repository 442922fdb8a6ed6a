import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kafka } from '@patternflow/kafka';
import type { Logger } from '@patternflow/observability';
import { openReplicaWriter } from './replica-writer.ts';

/** A broker stand-in: each transaction's batch is recorded; a key named "fail" makes the send fail. */
function fakeKafka() {
  const sent: string[] = [];
  const kafka = {
    producer: () => ({
      connect: async () => {},
      disconnect: async () => {},
      transaction: async () => ({
        sendBatch: async (batch: { topicMessages: { messages: { key: string }[] }[] }) => {
          const keys = batch.topicMessages.flatMap((t) => t.messages.map((m) => m.key));
          // The first write is slow: a later one must still wait for it.
          if (keys.includes('slow')) await new Promise((resolve) => setTimeout(resolve, 20));
          if (keys.includes('fail')) throw new Error('broker refused');
          sent.push(...keys);
        },
        commit: async () => {},
        abort: async () => {},
      }),
    }),
  } as unknown as Kafka;
  return { kafka, sent };
}

test('writes land in order; one that fails is logged and the next still lands', async () => {
  const { kafka, sent } = fakeKafka();
  const warnings: { what: unknown; message: string }[] = [];
  const logger = {
    warn: (fields: { what: unknown }, message: string) => warnings.push({ what: fields.what, message }),
  } as unknown as Logger;
  const writer = openReplicaWriter({ kafka, transactionalId: 'r1', logger, topic: 'the control topic' });
  const message = (key: string) => ({ topic: 'control', key, value: '{}' });
  const first = writer.write([message('slow')], 'first');
  const failing = writer.write([message('fail')], 'seed');
  const last = writer.write([message('ack/r1')], 'acknowledgement');
  await Promise.all([first, failing, last]);
  assert.deepEqual(sent, ['slow', 'ack/r1']);
  assert.deepEqual(warnings, [{ what: 'seed', message: 'could not write to the control topic' }]);
  await writer.close();
});
