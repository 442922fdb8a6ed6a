/**
 * The ingestor picks up ingest topics created while it runs: records of an unknown source
 * (a new team, a typo) are dead-lettered instead of sitting unread, the metric names the
 * topic, and the resubscription neither loses nor replays committed work.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCodes } from '@patternflow/errors';
import { generateEvents } from '@patternflow/generators';
import { deleteNamespace, readTopic, stack, uniqueName } from '@patternflow/harness';
import { createKafka, DeadLetterHeaders } from '@patternflow/kafka';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { ingestor } from '../../services/ingestor/src/service.ts';

test('an ingest topic created while the ingestor runs is consumed within seconds, without replaying committed work', async () => {
  const namespace = uniqueName('discover').replace('.', '-');
  const topics = topicNames(namespace);
  const logger = createLogger({ service: 'topic-discovery-test', level: 'error' });
  const kafka = createKafka({ brokers: stack.brokers, clientId: 'topic-discovery-test', logger });
  const metrics = createStageMetrics('ingestor');
  const config = ingestor.loadConfig({
    PF_KAFKA_BROKERS: stack.brokers.join(','),
    PF_REGISTRY_URL: stack.registryUrl,
    PF_TOPIC_NAMESPACE: namespace,
    PF_HTTP_PORT: '0',
    PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
    PF_TOPIC_REFRESH_MS: '500',
  });
  const running = await ingestor.start(config, { logger, metrics });
  const producer = kafka.producer();
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const events = [...generateEvents({ seed: 5, count: 20, sources: ['payments'] })];
    await producer.send({
      topic: topics.ingest('payments'),
      messages: events.map(({ event }) => ({ value: JSON.stringify(event) })),
    });
    // Both outputs: the policy's `expedite:` sends enterprise tenants to the priority topic.
    const outputs = [topics.normalizedPriority, topics.normalized];
    await readTopic(kafka, outputs, 20, { timeoutMs: 30_000 });

    const typo = topics.ingest('paymnets');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: typo, numPartitions: 1 }] });
    await producer.send({
      topic: typo,
      messages: events.slice(0, 5).map(({ event }) => ({ value: JSON.stringify(event) })),
    });
    const dead = await readTopic(kafka, topics.dlq, 5, { timeoutMs: 30_000 });
    assert.equal(dead.length, 5);
    for (const record of dead) {
      assert.equal(record.headers[DeadLetterHeaders.reason], ErrorCodes.UNKNOWN_SOURCE);
      assert.equal(record.headers[DeadLetterHeaders.sourceTopic], typo);
    }
    const exposition = await metrics.registry.getSingleMetricAsString('pf_input_topics');
    assert.ok(exposition.includes(`topic="${typo}"`), exposition);

    // The payments records were committed before the resubscription: none came out twice.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const offsets = (await Promise.all(outputs.map((output) => admin.fetchTopicOffsets(output)))).flat();
    const normalizedCount = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    assert.equal(normalizedCount, 20);
  } finally {
    await running.stop();
    await producer.disconnect();
    await admin.disconnect();
    await deleteNamespace(kafka, namespace);
  }
});
