import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { generateEvents } from '@patternflow/generators';
import { type TopicNames, valueSubject } from '@patternflow/records';
import { getSourceAdapter } from '@patternflow/sources';
import type { Kafka, Message } from 'kafkajs';

export interface PreparedEvent {
  id: string;
  topic: string;
  message: Message;
}

/**
 * Events encoded before any fault starts (JSON, or Confluent Avro through the registry), so
 * that a registry outage affects the pipeline, not the producer in front of it.
 */
export async function prepareEvents(options: {
  registryUrl: string;
  topics: TopicNames;
  seed: number;
  count: number;
  avroShare: number;
}): Promise<PreparedEvent[]> {
  const registry = new SchemaRegistry({ host: options.registryUrl });
  const schemaIds = new Map<string, number>();
  const prepared: PreparedEvent[] = [];
  let i = 0;
  for (const { source, event } of generateEvents({ seed: options.seed, count: options.count })) {
    const adapter = getSourceAdapter(source)!;
    const topic = options.topics.ingest(source);
    const id = adapter.normalize(event).id;
    const asAvro = Math.floor((i + 1) * options.avroShare) > Math.floor(i * options.avroShare);
    let value: Buffer;
    if (asAvro) {
      let schemaId = schemaIds.get(source);
      if (schemaId === undefined) {
        const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify(adapter.rawSchema) };
        schemaId = await withRetries(
          async () => (await registry.register(schema, { subject: valueSubject(topic) })).id,
        );
        schemaIds.set(source, schemaId);
      }
      const id = schemaId;
      value = await withRetries(() => registry.encode(id, event));
    } else {
      value = Buffer.from(JSON.stringify(event));
    }
    prepared.push({ id, topic, message: { key: id, value } });
    i += 1;
  }
  return prepared;
}

/**
 * A producer team retries its registry calls: after an outage of PostgreSQL, the registry
 * answers 500 on its stale pooled connections for a moment.
 */
async function withRetries<T>(call: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export interface SteadyLoad {
  /** Ids whose produce was acknowledged (acks=all), in send order. */
  acked(): readonly string[];
  /** How many ids had been acknowledged at `time` (epoch ms). */
  ackedAt(time: number): number;
  readonly done: Promise<{ acked: number; sendRetries: number; elapsedMs: number }>;
}

/**
 * Sends the events at a steady rate, as a producer team would: a batch whose send fails
 * (broker down, leader moving) is sent again until it is acknowledged. Only acknowledged
 * events count as sent; a resend may duplicate records in Kafka, which the sink absorbs.
 */
export function sendSteadily(options: {
  kafka: Kafka;
  events: readonly PreparedEvent[];
  ratePerSecond: number;
  batchSize?: number;
  deadlineMs: number;
}): SteadyLoad {
  const batchSize = options.batchSize ?? 100;
  const acked: string[] = [];
  // (time, acknowledged so far) after every batch
  const progress: { at: number; count: number }[] = [];
  let sendRetries = 0;
  const done = (async () => {
    const producer = options.kafka.producer({
      idempotent: true,
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    await producer.connect();
    const started = Date.now();
    try {
      for (let i = 0; i < options.events.length; i += batchSize) {
        const batch = options.events.slice(i, i + batchSize);
        const byTopic = new Map<string, Message[]>();
        for (const event of batch) {
          const list = byTopic.get(event.topic) ?? [];
          list.push({ ...event.message, timestamp: String(Date.now()) });
          byTopic.set(event.topic, list);
        }
        const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
        for (;;) {
          try {
            await producer.sendBatch({ topicMessages, acks: -1 });
            break;
          } catch (error) {
            if (Date.now() - started > options.deadlineMs) throw error;
            sendRetries += 1;
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
        for (const event of batch) acked.push(event.id);
        progress.push({ at: Date.now(), count: acked.length });
        const due = started + ((i + batch.length) / options.ratePerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    } finally {
      await producer.disconnect().catch(() => {});
    }
    return { acked: acked.length, sendRetries, elapsedMs: Date.now() - started };
  })();
  const ackedAt = (time: number) => {
    let count = 0;
    for (const sample of progress) {
      if (sample.at > time) break;
      count = sample.count;
    }
    return count;
  };
  return { acked: () => acked, ackedAt, done };
}
