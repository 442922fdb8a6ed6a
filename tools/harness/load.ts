import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { type DistributionShift, generateEvents } from '@patternflow/generators';
import { type TopicNames, valueSubject } from '@patternflow/records';
import { confluentRegistryArgs, type RegistryLink } from '@patternflow/registry';
import { getSourceAdapter } from '@patternflow/sources';
import type { Kafka, Message } from 'kafkajs';

export interface LoadOptions {
  kafka: Kafka;
  registryUrl: string;
  /** A registry that wants TLS settings or credentials: used instead of registryUrl. */
  registry?: RegistryLink;
  topics: TopicNames;
  seed: number;
  count: number;
  sources?: string[];
  /** Shifted traffic (tools/generators shift.ts), to make drift. */
  shift?: DistributionShift;
  /** Event time of the first event (default the generators' 2025-03-03). */
  startTime?: number;
  /** Share of events sent as Confluent-framed Avro (the rest as JSON), 0..1. */
  avroShare?: number;
  /** Offered rate in events/s; unlimited when absent. */
  ratePerSecond?: number;
  /** Events per produce call. */
  sendBatch?: number;
  onProgress?: (sent: number) => void;
}

export interface LoadResult {
  ids: string[];
  /** The ground-truth label of each id (same order): what a feedback producer would learn later. */
  labels: string[];
  sent: number;
  avro: number;
  json: number;
  bySource: Record<string, number>;
  elapsedMs: number;
}

/**
 * Publishes generated events to the ingest topics as a producer team would: JSON, or
 * Avro framed by the registry client's own serializer (a standard Confluent serializer),
 * each with its event id as key. Returns the canonical ids the sink must end up with.
 */
export async function produceGeneratedEvents(options: LoadOptions): Promise<LoadResult> {
  const avroShare = options.avroShare ?? 0.5;
  const sendBatch = options.sendBatch ?? 500;
  const registry = new SchemaRegistry(
    confluentRegistryArgs(options.registry ?? { url: options.registryUrl }),
  );
  const schemaIds = new Map<string, number>();
  const producer = options.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
  await producer.connect();
  const result: LoadResult = { ids: [], labels: [], sent: 0, avro: 0, json: 0, bySource: {}, elapsedMs: 0 };
  const started = Date.now();
  const pending = new Map<string, Message[]>();
  const flush = async () => {
    const topicMessages = [...pending].map(([topic, messages]) => ({ topic, messages }));
    pending.clear();
    if (topicMessages.length > 0) await producer.sendBatch({ topicMessages, acks: -1 });
  };
  try {
    let i = 0;
    for (const { source, event, label } of generateEvents({
      seed: options.seed,
      count: options.count,
      ...(options.sources ? { sources: options.sources } : {}),
      ...(options.shift ? { shift: options.shift } : {}),
      ...(options.startTime !== undefined ? { startTime: options.startTime } : {}),
    })) {
      const adapter = getSourceAdapter(source)!;
      const topic = options.topics.ingest(source);
      result.ids.push(adapter.normalize(event).id);
      result.labels.push(label);
      // Every k-th event goes as Avro: deterministic, and mixed within every source.
      const asAvro = Math.floor((i + 1) * avroShare) > Math.floor(i * avroShare);
      let value: Buffer;
      if (asAvro) {
        let id = schemaIds.get(source);
        if (id === undefined) {
          // The ingestor registers each source's schema at startup; a producer looks it up.
          const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify(adapter.rawSchema) };
          id = await registry
            .getRegistryIdBySchema(valueSubject(topic), schema)
            .catch(async () => (await registry.register(schema, { subject: valueSubject(topic) })).id);
          schemaIds.set(source, id);
        }
        value = await registry.encode(id, event);
        result.avro += 1;
      } else {
        value = Buffer.from(JSON.stringify(event));
        result.json += 1;
      }
      let list = pending.get(topic);
      if (!list) {
        list = [];
        pending.set(topic, list);
      }
      list.push({ key: result.ids[result.ids.length - 1]!, value, timestamp: String(Date.now()) });
      result.bySource[source] = (result.bySource[source] ?? 0) + 1;
      i += 1;
      if (i % sendBatch === 0) {
        await flush();
        result.sent = i;
        options.onProgress?.(i);
        if (options.ratePerSecond) {
          const due = started + (i / options.ratePerSecond) * 1000;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    }
    await flush();
    result.sent = i;
    options.onProgress?.(i);
  } finally {
    await producer.disconnect();
  }
  result.elapsedMs = Date.now() - started;
  return result;
}
