import { integer } from '@patternflow/config';
import {
  createVersionPredictor,
  DEV_PUBLIC_KEY_PATH,
  isDevPublicKey,
  keyIdOf,
  modelStoreConfigSpec,
  parseVersionPins,
  readPublicKey,
} from '@patternflow/models';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, groupIdOf, registryLinkOf } from '@patternflow/service';
import { extractFeatures } from '@patternflow/sources';
import { createDeploymentInference, type TaggingOutcome } from './deployments.ts';
import { createTagHandler, type FeatureRow, featureViewSchema } from './handler.ts';
import { startLiveModels } from './live-models.ts';
import { createMicroBatcher } from './micro-batcher.ts';
import { createModelMetrics } from './model-metrics.ts';

/**
 * Canonical records → the same records with the label and score of the model deployed for
 * their source (serving, or a canary's candidate; a shadow candidate's label beside it), on
 * patterns.tagged. Deployments change without a restart (live-models.ts).
 */
export const tagger = defineStageService({
  stage: 'inference-tagger',
  config: {
    ...modelStoreConfigSpec(),
    inferenceMaxBatch: integer('PF_INFERENCE_MAX_BATCH', { default: 512, min: 1, max: 8192 }),
    inferenceLingerMs: integer('PF_INFERENCE_LINGER_MS', { default: 5, min: 0, max: 1000 }),
    intraOpThreads: integer('PF_INFERENCE_THREADS', { default: 1, min: 1, max: 64 }),
  },
  async build(config, { logger, metrics, kafka }) {
    const topics = topicNames(config.topicNamespace);
    const modelMetrics = createModelMetrics(metrics.registry);
    const publicKey = readPublicKey(config.modelPublicKey);
    if (isDevPublicKey(publicKey, DEV_PUBLIC_KEY_PATH)) {
      logger.warn(
        { publicKey: config.modelPublicKey, keyId: keyIdOf(publicKey) },
        "models are verified with the repo's DEV key, whose private half is public: set PF_MODEL_PUBLIC_KEY in production",
      );
    }
    // The serving version of every source must verify (signature, manifest, sha256) and
    // load, or the start stops here with that error: a refused version never serves. Which
    // version serves comes from the models control topic (live-models.ts).
    const live = await startLiveModels({
      kafka,
      topics,
      groupId: groupIdOf('inference-tagger', config),
      store: config.modelsDir,
      publicKey,
      pins: parseVersionPins(config.modelVersions),
      intraOpThreads: config.intraOpThreads,
      logger,
      metrics: modelMetrics,
    });
    for (const entry of live.store.filter((e) => !e.verified)) {
      logger.warn(
        {
          model: entry.name,
          version: entry.version,
          code: entry.problem?.code,
          reason: entry.problem?.message,
        },
        'model version refused: it does not serve',
      );
    }
    logger.info(
      { models: live.inForce(), store: config.modelsDir, keyId: keyIdOf(publicKey), replica: live.replica },
      'models loaded',
    );
    try {
      const label = createDeploymentInference({
        predictWith: createVersionPredictor({ registry: metrics.registry }),
        metrics: modelMetrics,
      });
      // Each micro-batch takes the deployments in force once: a swap lands between two batches.
      const inference = createMicroBatcher<FeatureRow, TaggingOutcome>({
        maxSize: config.inferenceMaxBatch,
        lingerMs: config.inferenceLingerMs,
        run: (rows) => live.withSnapshot((snapshot) => label(snapshot, rows)),
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
          hasModel: (modelKey) => live.hasModel(modelKey),
          inference,
        }),
        failed: live.failed,
        close: () => live.stop(),
      };
    } catch (error) {
      await live.stop();
      throw error;
    }
  },
});
