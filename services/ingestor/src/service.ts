import { randomUUID } from 'node:crypto';
import { integer } from '@patternflow/config';
import { readPolicyInForce } from '@patternflow/control';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, groupIdOf, policyFileField, registryLinkOf } from '@patternflow/service';
import { getSourceAdapter, sourceNames } from '@patternflow/sources';
import { createIngestHandler } from './handler.ts';
import { createIngestDecoder } from './ingest.ts';

/**
 * Raw events of every source (JSON or Confluent Avro) → validated canonical records on
 * patterns.normalized, or patterns.normalized.priority when the routing policy's `expedite:`
 * holds for what is known at ingest (no label or score yet).
 */
export const ingestor = defineStageService({
  stage: 'ingestor',
  config: {
    maxValueBytes: integer('PF_MAX_VALUE_BYTES', { default: 256 * 1024, min: 64, max: 16 * 1024 * 1024 }),
    // For its `expedite:` conditions only (the router decides the lanes).
    policyFile: policyFileField(),
  },
  async build(config, { logger, kafka }) {
    const topics = topicNames(config.topicNamespace);
    // The policy in force (the control topic; the file seeds only an empty one), once: a change of
    // `expedite:` applies at the next start. It moves latency only, never a lane or a delivery.
    const { policy, record } = await readPolicyInForce({
      kafka,
      topics,
      groupId: `${groupIdOf('ingestor', config)}.policy-read.${randomUUID()}`,
      seedFile: config.policyFile,
      logger,
    });
    logger.info(
      {
        version: policy.version,
        expedite: policy.expedite.map((e) => e.name),
        fromControlTopic: record !== undefined,
      },
      'expedite conditions of the routing policy',
    );
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
      outputTopics: [topics.normalizedPriority, topics.normalized],
      dlqTopic: topics.dlq,
      // Only the expedited lane holds the ingestor back: were the normal lane's backlog to
      // pause it, a sustained overload would pile up in the ingest topics, where expedited
      // records cannot be told apart yet (docs/architecture.md#priority-under-overload).
      downstream: { stage: 'inference-tagger', topics: [topics.normalizedPriority] },
      handler: createIngestHandler({
        decode: createIngestDecoder({ adapters, codec, maxValueBytes: config.maxValueBytes, topics }),
        encoder,
        normalizedTopic: topics.normalized,
        // The same encoder (subject patterns.normalized-value) on both topics: a consumer decodes
        // by the schema id in the frame, and one subject keeps one compatibility history.
        expedited: {
          topic: topics.normalizedPriority,
          applies: (normalized) => policy.expedites(normalized),
        },
      }),
    };
  },
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
