import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { ensureTopics } from './topics.ts';

/** A fake admin whose createTopics fails like the loser of a start race, `failures` times. */
function fakeKafka(failures: { type: string }[]) {
  const topics = new Set<string>();
  const calls = { create: 0 };
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    listTopics: async () => [...topics],
    fetchTopicMetadata: async () => ({ topics: [] }),
    createTopics: async ({ topics: specs }: { topics: { topic: string }[] }) => {
      calls.create += 1;
      const failure = failures.shift();
      if (failure) {
        // What the winner created becomes visible; the loser gets the per-topic error.
        for (const spec of specs) topics.add(spec.topic);
        throw Object.assign(new Error('create failed'), { errors: [failure] });
      }
      for (const spec of specs) topics.add(spec.topic);
      return true;
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, topics, calls };
}

test('a service that loses the topic-creation race with UNKNOWN_TOPIC_OR_PARTITION still starts (regression)', async () => {
  const { kafka, topics } = fakeKafka([{ type: 'UNKNOWN_TOPIC_OR_PARTITION' }]);
  await ensureTopics(kafka, [{ topic: 'patterns.tagged', partitions: 3 }]);
  assert.ok(topics.has('patterns.tagged'));
});

test('TOPIC_ALREADY_EXISTS from a racing creator is not an error', async () => {
  const { kafka } = fakeKafka([{ type: 'TOPIC_ALREADY_EXISTS' }]);
  assert.deepEqual(await ensureTopics(kafka, [{ topic: 'patterns.dlq', partitions: 3 }]), []);
});

test('other creation errors are not retried', async () => {
  const { kafka, calls } = fakeKafka([{ type: 'POLICY_VIOLATION' }]);
  await assert.rejects(ensureTopics(kafka, [{ topic: 'x', partitions: 3 }]), /create failed/);
  assert.equal(calls.create, 1);
});
