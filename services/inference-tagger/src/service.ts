import { integer, string } from '@patternflow/config';
import { loadModelRuntime, type PredictionOutcome } from '@patternflow/models';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, registryLinkOf } from '@patternflow/service';
import { extractFeatures } from '@patternflow/sources';
import { createTagHandler, type FeatureRow, featureViewSchema } from './handler.ts';
import { predictByModel } from './inference.ts';
import { createMicroBatcher } from './micro-batcher.ts';

/** Canonical records → the same records with the serving model's label and score, on patterns.tagged. */
export const tagger = defineStageService({
  stage: 'inference-tagger',
  config: {
    modelsDir: string('PF_MODELS_DIR', new URL('../../../models', import.meta.url).pathname),
    inferenceMaxBatch: integer('PF_INFERENCE_MAX_BATCH', { default: 512, min: 1, max: 8192 }),
    inferenceLingerMs: integer('PF_INFERENCE_LINGER_MS', { default: 5, min: 0, max: 1000 }),
    intraOpThreads: integer('PF_INFERENCE_THREADS', { default: 1, min: 1, max: 64 }),
  },
  async build(config, { logger, metrics }) {
    const topics = topicNames(config.topicNamespace);
    // A model whose bytes differ from its manifest's sha256 stops the start here.
    const runtime = await loadModelRuntime({
      modelsDir: config.modelsDir,
      registry: metrics.registry,
      intraOpThreads: config.intraOpThreads,
    });
    logger.info(
      { models: runtime.models.map((m) => `${m.name}@${m.version}`), modelsDir: config.modelsDir },
      'models loaded',
    );
    try {
      const inference = createMicroBatcher<FeatureRow, PredictionOutcome>({
        maxSize: config.inferenceMaxBatch,
        lingerMs: config.inferenceLingerMs,
        run: predictByModel(runtime),
      });
      const codec = createSchemaCodec(registryLinkOf(config));
      const normalizedSchema = loadSchema('normalized');
      const taggedSchema = loadSchema('tagged');
      return {
        inputTopics: [topics.normalized],
        outputTopics: [topics.tagged],
        dlqTopic: topics.dlq,
        downstream: { stage: 'priority-router', topics: [topics.tagged] },
        handler: createTagHandler({
          decoder: codec.decoderFor(featureViewSchema(normalizedSchema)),
          fullDecoder: codec.decoderFor(normalizedSchema),
          encoder: await codec.encoderFor(valueSubject(topics.tagged), taggedSchema),
          extender: await codec.extenderFor(
            valueSubject(topics.tagged),
            taggedSchema,
            valueSubject(topics.normalized),
            normalizedSchema,
          ),
          taggedTopic: topics.tagged,
          extractFeatures,
          hasModel: (modelKey) => runtime.hasModel(modelKey),
          inference,
        }),
        close: () => runtime.close(),
      };
    } catch (error) {
      await runtime.close();
      throw error;
    }
  },
});
