/**
 * Why a kafkajs hop was slow at low load: produce → consume latency on one topic, with
 * kafkajs's autoCommit (an OffsetCommit after every batch, awaited before the partition is
 * fetched again) and with the offsets committed by a timer instead (libs/kafka/stage-runner.ts).
 *
 *   node bench/limits/commit-latency.ts [--rate 1600] [--seconds 8] [--partitions 3]
 *
 * Prints one JSON line per mode: arrival latency p50/p99 (ms, producer timestamp → eachBatch),
 * fetches, OffsetCommit requests and their p50 duration.
 */
import { parseArgs } from 'node:util';
import { createBenchKafka, createTopics, deleteTopics, uniqueName } from './kafka-admin.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1600' },
    seconds: { type: 'string', default: '8' },
    partitions: { type: 'string', default: '3' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const partitions = Number(values.partitions);
const brokers = (process.env.PF_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(autoCommit: boolean) {
  const kafka = createBenchKafka(brokers, 'pf-bench-commit-latency');
  const topic = uniqueName('commit-latency');
  await createTopics(kafka, [topic], partitions);
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
  });
  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  const arrivals: number[] = [];
  const commits: number[] = [];
  let fetches = 0;
  try {
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    consumer.on(consumer.events.FETCH, () => {
      fetches += 1;
    });
    consumer.on(consumer.events.REQUEST, ({ payload }) => {
      if (payload.apiName === 'OffsetCommit') commits.push(payload.duration);
    });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    const acknowledged = new Map<number, string>();
    const timer = setInterval(() => {
      if (autoCommit || acknowledged.size === 0) return;
      const offsets = [...acknowledged].map(([partition, offset]) => ({ topic, partition, offset }));
      acknowledged.clear();
      consumer.commitOffsets(offsets).catch(() => {});
    }, 1000);
    await consumer.run({
      autoCommit,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitions,
      eachBatch: async ({ batch, resolveOffset }) => {
        const now = Date.now();
        for (const message of batch.messages) arrivals.push(now - Number(message.timestamp));
        if (batch.messages.length === 0) return;
        resolveOffset(batch.lastOffset());
        acknowledged.set(batch.partition, String(BigInt(batch.lastOffset()) + 1n));
      },
    });
    await joined;
    const value = Buffer.alloc(955, 7);
    const startedAt = Date.now();
    let sent = 0;
    while (Date.now() - startedAt < seconds * 1000) {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * rate);
      if (due > sent) {
        const at = String(Date.now());
        const messages = Array.from({ length: due - sent }, (_, i) => ({
          key: `k${sent + i}`,
          value,
          timestamp: at,
        }));
        sent = due;
        producer.send({ topic, messages, acks: -1 }).catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    clearInterval(timer);
    arrivals.sort((a, b) => a - b);
    commits.sort((a, b) => a - b);
    return {
      autoCommit,
      rate,
      partitions,
      records: arrivals.length,
      latencyMs: { p50: percentile(arrivals, 0.5), p99: percentile(arrivals, 0.99) },
      fetches,
      offsetCommits: commits.length,
      offsetCommitP50Ms: commits.length > 0 ? percentile(commits, 0.5) : null,
    };
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await deleteTopics(kafka, [topic]);
  }
}

for (const autoCommit of [true, false]) console.log(JSON.stringify(await measure(autoCommit)));
