import { integer } from '@patternflow/config';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, registryLinkOf } from '@patternflow/service';
import { getSourceAdapter, sourceNames } from '@patternflow/sources';
import { createIngestHandler } from './handler.ts';
import { createIngestDecoder } from './ingest.ts';

/** Raw events of every source (JSON or Confluent Avro) → validated canonical records on patterns.normalized. */
export const ingestor = defineStageService({
  stage: 'ingestor',
  config: {
    maxValueBytes: integer('PF_MAX_VALUE_BYTES', { default: 256 * 1024, min: 64, max: 16 * 1024 * 1024 }),
  },
  async build(config) {
    const topics = topicNames(config.topicNamespace);
    const codec = createSchemaCodec(registryLinkOf(config));
    const encoder = await codec.encoderFor(valueSubject(topics.normalized), loadSchema('normalized'));
    const sources = sourceNames();
    const adapters = new Map(sources.map((source) => [source, getSourceAdapter(source)!]));
    // Register each source's raw schema under its ingest subject, so producers that use a
    // registry-aware serializer find the schema to write with.
    for (const [source, adapter] of adapters) {
      await codec.register(valueSubject(topics.ingest(source)), adapter.rawSchema);
    }
    return {
      inputTopics: sources.map((source) => topics.ingest(source)),
      // Ingest topics of sources without a pack are consumed too: their records go to the
      // DLQ as PF_UNKNOWN_SOURCE instead of piling up unread.
      inputTopicPattern: new RegExp(`^${escapeRegExp(topics.ingestPrefix)}.+`),
      outputTopics: [topics.normalized],
      dlqTopic: topics.dlq,
      downstream: { stage: 'inference-tagger', topics: [topics.normalized] },
      handler: createIngestHandler({
        decode: createIngestDecoder({ adapters, codec, maxValueBytes: config.maxValueBytes, topics }),
        encoder,
        normalizedTopic: topics.normalized,
      }),
    };
  },
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
