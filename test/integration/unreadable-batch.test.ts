/**
 * A batch the client cannot read (here: a segment on the broker's disk whose batch header
 * claims a compression it does not have) no longer ends in a crash loop: the stage consumes
 * what is readable in front of it, reports the range (metric, failing readiness), and an
 * operator skips it with scripts/skip-batch.ts, which records the skip; the stage resumes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateEvents } from '@patternflow/generators';
import { deleteNamespace, readTopic, stack, uniqueName } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { groupIdOf } from '@patternflow/service';
import { ingestor } from '../../services/ingestor/src/service.ts';

/** Rewrites the compression bits of the batch at `baseOffset` in partition 0's first segment. */
function claimCompression(topic: string, baseOffset: bigint, codec: number): void {
  const dir = join(stack.kafkaData, `${topic}-0`);
  const file = join(dir, readdirSync(dir).find((name) => name.endsWith('.log'))!);
  const bytes = readFileSync(file);
  for (let position = 0; position + 12 <= bytes.length; position += 12 + bytes.readInt32BE(position + 8)) {
    if (bytes.readBigInt64BE(position) !== baseOffset) continue;
    // baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1) crc(4) attributes(2)
    const at = position + 21;
    const patched = Buffer.alloc(2);
    patched.writeInt16BE((bytes.readInt16BE(at) & ~7) | codec);
    const fd = openSync(file, 'r+');
    writeSync(fd, patched, 0, 2, at);
    closeSync(fd);
    return;
  }
  throw new Error(`no batch at offset ${baseOffset} in ${file}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('regression: an unreadable batch stops the stage in front of it (no crash loop) until an operator skips it, and the skip is recorded', async () => {
  const namespace = uniqueName('unreadable').replace('.', '-');
  const topics = topicNames(namespace);
  const topic = topics.ingest('payments');
  const logger = createLogger({ service: 'unreadable-test', level: process.env.PF_TEST_LOG ?? 'silent' });
  const kafka = createKafka({ brokers: stack.brokers, clientId: 'unreadable-test', logger });
  const admin = kafka.admin();
  await admin.connect();
  const events = [...generateEvents({ seed: 77, count: 15, sources: ['payments'] })].map((e) =>
    JSON.stringify(e.event),
  );
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
  const producer = kafka.producer();
  await producer.connect();
  for (let batch = 0; batch < 3; batch++) {
    await producer.send({
      topic,
      messages: events.slice(batch * 5, batch * 5 + 5).map((value) => ({ value })),
    });
  }
  await producer.disconnect();
  claimCompression(topic, 5n, 3); // the second batch (offsets 5..9) now claims LZ4

  const httpPort = 26_000 + Math.floor(Math.random() * 2_000);
  const metrics = createStageMetrics('ingestor');
  const config = ingestor.loadConfig({
    PF_KAFKA_BROKERS: stack.brokers.join(','),
    PF_REGISTRY_URL: stack.registryUrl,
    PF_TOPIC_NAMESPACE: namespace,
    PF_HTTP_PORT: String(httpPort),
    PF_PAUSE_WHEN_BACKLOG_ABOVE: '0',
  });
  const running = await ingestor.start(config, { logger, metrics });
  try {
    // The readable batch in front is processed; the unreadable one is reported, not fatal.
    // Both outputs: the policy's `expedite:` sends enterprise tenants to the priority topic.
    const outputs = [topics.normalizedPriority, topics.normalized];
    const before = await readTopic(kafka, outputs, 5, { timeoutMs: 90_000 });
    assert.equal(before.length, 5);
    let exposition = '';
    for (let i = 0; i < 240 && !exposition.includes(' 1'); i++) {
      exposition = (await metrics.registry.getSingleMetricAsString('pf_unreadable_batch'))
        .split('\n')
        .filter((line) => line.startsWith('pf_unreadable_batch{'))
        .join('\n');
      await sleep(500);
    }
    assert.match(exposition, new RegExp(`topic="${topic}",partition="0",from="5",to="10".*\\} 1`));
    const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    assert.equal(ready.status, 503, 'not ready while stopped in front of the batch');
    const live = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    assert.equal(live.status, 200, 'alive: no restart would help');

    const script = new URL('../../scripts/skip-batch.ts', import.meta.url).pathname;
    const groupId = groupIdOf('ingestor', config);
    const skip = (...extra: string[]) =>
      spawnSync(
        process.execPath,
        [
          script,
          '--group',
          groupId,
          '--topic',
          topic,
          '--partition',
          '0',
          '--reason',
          'corrupt test batch',
          '--by',
          'test',
          ...extra,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, PF_KAFKA_BROKERS: stack.brokers.join(','), PF_TOPIC_NAMESPACE: namespace },
        },
      );
    const refused = skip('--from', '3', '--to', '10');
    assert.equal(refused.status, 1, 'a skip that would lose readable records is refused');
    assert.match(refused.stderr, /is at offset 5 of .*, past 3: nothing to skip/);
    const skipped = skip('--from', '5', '--to', '10');
    assert.equal(skipped.status, 0, skipped.stderr);
    const audit = await readTopic(kafka, topics.skipped, 1, { timeoutMs: 30_000 });
    assert.deepEqual(
      { ...JSON.parse(String(audit[0]!.value)), at: undefined },
      {
        topic,
        partition: 0,
        from: '5',
        to: '10',
        groupId,
        reason: 'corrupt test batch',
        by: 'test',
        at: undefined,
      },
    );

    // The stage resumes after the skipped range: the third batch arrives, nothing else.
    const after = await readTopic(kafka, outputs, 10, { timeoutMs: 90_000 });
    assert.equal(after.length, 10);
    await sleep(1_000);
    const offsets = (await Promise.all(outputs.map((output) => admin.fetchTopicOffsets(output)))).flat();
    assert.equal(
      offsets.reduce((sum, p) => sum + Number(p.high), 0),
      10,
      'the five records of the skipped batch are the only ones missing',
    );
    assert.equal((await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status, 200);
  } finally {
    await running.stop();
    await admin.disconnect();
    await deleteNamespace(kafka, namespace);
  }
});
