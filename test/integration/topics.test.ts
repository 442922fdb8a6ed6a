import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stack, uniqueName } from '@patternflow/harness';
import { createKafka, ensureTopics } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';

// Four services start at once in a fresh namespace and all create the same topics.
test('services racing to create the same new topics all start (topic creation race)', async (t) => {
  const logger = createLogger({ service: 'topics-test', level: 'error' });
  const topics = Array.from({ length: 5 }, () => ({ topic: uniqueName('it.topics'), partitions: 3 }));
  const kafka = createKafka({
    brokers: stack.brokers,
    clientId: 'topics-test',
    logger,
    clientLogLevel: 'error',
  });
  t.after(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: topics.map((spec) => spec.topic) }).catch(() => {});
    await admin.disconnect();
  });
  // One client per racer, as separate services have.
  const racers = Array.from({ length: 6 }, (_, i) =>
    createKafka({ brokers: stack.brokers, clientId: `racer-${i}`, logger, clientLogLevel: 'error' }),
  );
  const results = await Promise.all(racers.map((racer) => ensureTopics(racer, topics)));
  const createdSomewhere = new Set(results.flat());
  assert.ok(createdSomewhere.size <= topics.length);
  const admin = kafka.admin();
  await admin.connect();
  const metadata = await admin.fetchTopicMetadata({ topics: topics.map((spec) => spec.topic) });
  await admin.disconnect();
  for (const topic of metadata.topics)
    assert.equal(topic.partitions.length, 3, `${topic.name} has its 3 partitions`);
});
