/**
 * A relay that does no work: it consumes one topic and produces every batch, unchanged,
 * to the next, with the pipeline's delivery discipline (libs/kafka/stage-runner.ts):
 * eachBatch, one send per batch through an idempotent producer with acks=-1, and the
 * batch's offsets resolved only after that send was acknowledged, then committed by a 1 s
 * timer off the processing path (kafkajs's autoCommit would wait for an OffsetCommit after
 * every batch, which the stages no longer do either).
 * A chain of these is the ceiling of a kafkajs pipeline on this broker: what the real
 * stages reach is this minus their own work.
 */
import type { Consumer, Message, Producer } from 'kafkajs';
import { createBenchKafka } from './kafka-admin.ts';

export interface RelayOptions {
  brokers: readonly string[];
  from: string;
  to: string;
  groupId: string;
  /** Partitions handled at once; the chain's topics all have this many. */
  partitionsConsumedConcurrently: number;
  maxFetchBytes?: number;
}

export interface RelayStats {
  records: number;
  batches: number;
  /** Wall-clock ms of the first fetched batch and of the last acknowledged send. */
  firstBatchAt: number;
  lastAckAt: number;
  /** CPU time of the process the relay ran in, while it ran (user + system). */
  cpuSeconds: number;
}

export interface Relay {
  /** Settles once the consumer has joined its group (it may already be relaying). */
  readonly joined: Promise<void>;
  stats(): RelayStats;
  /** Finishes the batch in flight, commits what was acknowledged, disconnects. */
  stop(): Promise<RelayStats>;
}

export async function startRelay(options: RelayOptions): Promise<Relay> {
  const kafka = createBenchKafka(options.brokers, `relay-${options.from}`);
  const maxFetchBytes = options.maxFetchBytes ?? 4 * 1024 * 1024;
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: 30000,
    heartbeatInterval: 3000,
    maxBytes: maxFetchBytes,
    maxBytesPerPartition: Math.max(64 * 1024, Math.floor(maxFetchBytes / 4)),
    maxWaitTimeInMs: 100,
  });
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
  });
  const cpuAtStart = process.cpuUsage();
  const stats: RelayStats = { records: 0, batches: 0, firstBatchAt: 0, lastAckAt: 0, cpuSeconds: 0 };
  const snapshot = (): RelayStats => {
    const cpu = process.cpuUsage(cpuAtStart);
    return { ...stats, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };

  let onJoined: () => void = () => {};
  const joined = new Promise<void>((resolve) => {
    onJoined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => onJoined());
  const acknowledged = new Map<number, string>();
  const commit = async () => {
    if (acknowledged.size === 0) return;
    const offsets = [...acknowledged].map(([partition, offset]) => ({
      topic: options.from,
      partition,
      offset,
    }));
    acknowledged.clear();
    await consumer.commitOffsets(offsets).catch(() => {});
  };
  const commitTimer = setInterval(() => void commit(), 1000);
  commitTimer.unref();

  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [options.from], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      if (stats.firstBatchAt === 0) stats.firstBatchAt = Date.now();
      // Unchanged: same key, value, headers and CreateTime timestamp, so the last topic's
      // consumer can measure the latency from the first produce.
      const messages: Message[] = batch.messages.map((message) => ({
        key: message.key,
        value: message.value,
        headers: message.headers,
        timestamp: message.timestamp,
        partition: batch.partition,
      }));
      await producer.send({ topic: options.to, messages, acks: -1 });
      // Resolved only after the ack: a crash before this line replays the batch.
      resolveOffset(batch.lastOffset());
      acknowledged.set(batch.partition, String(BigInt(batch.lastOffset()) + 1n));
      stats.records += messages.length;
      stats.batches += 1;
      stats.lastAckAt = Date.now();
      await heartbeat();
    },
  });

  return {
    joined,
    stats: snapshot,
    async stop() {
      clearInterval(commitTimer);
      await commit();
      await consumer.disconnect();
      await producer.disconnect();
      return snapshot();
    },
  };
}
