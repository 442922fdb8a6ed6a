import { integer, list } from '@patternflow/config';
import {
  DEV_PUBLIC_KEY_PATH,
  isDevPublicKey,
  keyIdOf,
  loadModelRuntime,
  modelStoreConfigSpec,
  type PredictionOutcome,
  parseVersionPins,
  readPublicKey,
} from '@patternflow/models';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, registryLinkOf } from '@patternflow/service';
import { extractFeatures } from '@patternflow/sources';
import { createDriftMonitor, type DriftModel, referenceProblem } from './drift.ts';
import { createTagHandler, type FeatureRow, featureViewSchema } from './handler.ts';
import { predictByModel } from './inference.ts';
import { createMicroBatcher } from './micro-batcher.ts';

/** Canonical records → the same records with the serving model's label and score, on patterns.tagged. */
export const tagger = defineStageService({
  stage: 'inference-tagger',
  config: {
    ...modelStoreConfigSpec(),
    inferenceMaxBatch: integer('PF_INFERENCE_MAX_BATCH', { default: 512, min: 1, max: 8192 }),
    inferenceLingerMs: integer('PF_INFERENCE_LINGER_MS', { default: 5, min: 0, max: 1000 }),
    intraOpThreads: integer('PF_INFERENCE_THREADS', { default: 1, min: 1, max: 64 }),
    // Drift (docs/models.md, "Semantic observability"): the last N records per source, in
    // ring buckets, against the manifest's reference.
    driftWindowRecords: integer('PF_DRIFT_WINDOW_RECORDS', { default: 2000, min: 10, max: 1_000_000 }),
    driftBuckets: integer('PF_DRIFT_BUCKETS', { default: 20, min: 1, max: 1000 }),
    // A window of records covers hours, not a day: time of day would always "drift".
    driftIgnoreFeatures: list('PF_DRIFT_IGNORE_FEATURES', ['local_hour']),
  },
  checks: [
    (c) =>
      c.driftWindowRecords % c.driftBuckets === 0
        ? undefined
        : `PF_DRIFT_WINDOW_RECORDS (${c.driftWindowRecords}) must be a multiple of PF_DRIFT_BUCKETS (${c.driftBuckets})`,
  ],
  async build(config, { logger, metrics }) {
    const topics = topicNames(config.topicNamespace);
    const publicKey = readPublicKey(config.modelPublicKey);
    if (isDevPublicKey(publicKey, DEV_PUBLIC_KEY_PATH)) {
      logger.warn(
        { publicKey: config.modelPublicKey, keyId: keyIdOf(publicKey) },
        "models are verified with the repo's DEV key, whose private half is public: set PF_MODEL_PUBLIC_KEY in production",
      );
    }
    // The serving version of every source must verify (signature, manifest, sha256) and
    // load, or the start stops here with that error: a refused version never serves.
    const runtime = await loadModelRuntime({
      store: config.modelsDir,
      publicKey,
      pins: parseVersionPins(config.modelVersions),
      registry: metrics.registry,
      intraOpThreads: config.intraOpThreads,
    });
    for (const entry of runtime.store.filter((e) => !e.verified)) {
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
      {
        models: runtime.models.map((m) => ({
          name: m.name,
          version: m.version,
          source: m.source,
          sha256: m.sha256,
        })),
        store: config.modelsDir,
        keyId: keyIdOf(publicKey),
      },
      'models loaded',
    );
    // Every loaded version's drift reference, by name@version (a prediction names its version).
    const driftModels = new Map<string, DriftModel>();
    for (const model of runtime.models) {
      const problem = referenceProblem(model);
      if (problem) {
        logger.warn(
          { model: model.name, version: model.version, reason: problem },
          'no drift metrics for this model',
        );
        continue;
      }
      driftModels.set(`${model.name}@${model.version}`, { ...model, reference: model.reference! });
    }
    const drift = createDriftMonitor(metrics.registry, {
      windowRecords: config.driftWindowRecords,
      buckets: config.driftBuckets,
      ignoreFeatures: config.driftIgnoreFeatures,
    });
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
          observe: (source, prediction, row) => {
            const model = driftModels.get(`${prediction.modelName}@${prediction.modelVersion}`);
            if (model) drift.observe(source, model, row.values, prediction.label);
          },
        }),
        close: () => runtime.close(),
      };
    } catch (error) {
      await runtime.close();
      throw error;
    }
  },
});
