import { randomUUID } from 'node:crypto';
import { integer, list, removed } from '@patternflow/config';
import { readPolicyInForce } from '@patternflow/control';
import { createBatcher } from '@patternflow/kafka';
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
import { defineStageService, groupIdOf, policyFileField, registryLinkOf } from '@patternflow/service';
import { extractFeatures } from '@patternflow/sources';
import { createDeploymentInference, type TaggingOutcome } from './deployments.ts';
import { createDriftMonitor, type DriftModel, referenceProblem } from './drift.ts';
import { createTagHandler, type FeatureRow, featureViewSchema } from './handler.ts';
import { startLiveModels } from './live-models.ts';
import { createModelMetrics } from './model-metrics.ts';

/**
 * Canonical records → the same records with the label and score of the model deployed for
 * their source (serving, or a canary's candidate; a shadow candidate's label beside it), on
 * patterns.tagged. Deployments change without a restart (live-models.ts). The expedited lane
 * (patterns.normalized.priority) is read ahead of the rest, and a record the routing policy's
 * `expedite:` holds for, now with its label and score, goes on to patterns.tagged.priority.
 */
export const tagger = defineStageService({
  stage: 'inference-tagger',
  config: {
    ...modelStoreConfigSpec(),
    inferenceMaxBatch: integer('PF_INFERENCE_MAX_BATCH', { default: 512, min: 1, max: 8192 }),
    inferenceLingerRetired: removed(
      'PF_INFERENCE_LINGER_MS',
      'is no longer read: the tagger batches adaptively (a lone record runs at once; records that arrive while a model runs share the next run), see docs/architecture.md',
    ),
    intraOpThreads: integer('PF_INFERENCE_THREADS', { default: 1, min: 1, max: 64 }),
    // Drift (docs/models.md, "Semantic observability"): the last N records per source, in
    // ring buckets, against the manifest's reference.
    driftWindowRecords: integer('PF_DRIFT_WINDOW_RECORDS', { default: 2000, min: 10, max: 1_000_000 }),
    driftBuckets: integer('PF_DRIFT_BUCKETS', { default: 20, min: 1, max: 1000 }),
    // A window of records covers hours, not a day: time of day would always "drift".
    driftIgnoreFeatures: list('PF_DRIFT_IGNORE_FEATURES', ['local_hour']),
    // For its `expedite:` conditions only (the router decides the lanes).
    policyFile: policyFileField(),
  },
  checks: [
    (c) =>
      c.driftWindowRecords % c.driftBuckets === 0
        ? undefined
        : `PF_DRIFT_WINDOW_RECORDS (${c.driftWindowRecords}) must be a multiple of PF_DRIFT_BUCKETS (${c.driftBuckets})`,
  ],
  async build(config, { logger, metrics, kafka }) {
    const topics = topicNames(config.topicNamespace);
    // The policy in force (the control topic; the file seeds only an empty one), read before the
    // models load: a change of `expedite:` applies at the next start, and moves latency only.
    const inForce = await readPolicyInForce({
      kafka,
      topics,
      groupId: `${groupIdOf('inference-tagger', config)}.policy-read.${randomUUID()}`,
      seedFile: config.policyFile,
      logger,
    });
    const policy = inForce.policy;
    logger.info(
      {
        version: policy.version,
        expedite: policy.expedite.map((e) => e.name),
        fromControlTopic: inForce.record !== undefined,
      },
      'expedite conditions of the routing policy',
    );
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
    // The drift reference of each version that labels records, by name@version (a prediction
    // names its version), taken from the loaded version's manifest the first time it is seen:
    // a version deployed later (promote, canary) gets its own window and reference.
    const driftModels = new Map<string, DriftModel | null>();
    const driftModelOf = (name: string, version: string): DriftModel | null => {
      const key = `${name}@${version}`;
      let model = driftModels.get(key);
      if (model !== undefined) return model;
      const info = live.modelInfo(name, version);
      const problem = info ? referenceProblem(info) : 'the version is not loaded';
      if (info && problem === undefined) {
        model = { ...info, reference: info.reference! };
      } else {
        logger.warn({ model: name, version, reason: problem }, 'no drift metrics for this model');
        model = null;
      }
      driftModels.set(key, model);
      return model;
    };
    const drift = createDriftMonitor(metrics.registry, {
      windowRecords: config.driftWindowRecords,
      buckets: config.driftBuckets,
      ignoreFeatures: config.driftIgnoreFeatures,
    });
    try {
      const label = createDeploymentInference({
        predictWith: createVersionPredictor({ registry: metrics.registry }),
        metrics: modelMetrics,
      });
      // Each micro-batch takes the deployments in force once: a swap lands between two batches.
      const inference = createBatcher<FeatureRow, TaggingOutcome>({
        maxSize: config.inferenceMaxBatch,
        // A full batch runs beside the one in flight (onnxruntime runs off the event loop).
        maxInFlight: 2,
        run: (rows) => live.withSnapshot((snapshot) => label(snapshot, rows)),
      });
      const codec = createSchemaCodec(registryLinkOf(config));
      const normalizedSchema = loadSchema('normalized');
      const taggedSchema = loadSchema('tagged');
      return {
        inputTopics: [topics.normalizedPriority, topics.normalized],
        priorityTopics: [topics.normalizedPriority],
        outputTopics: [topics.taggedPriority, topics.tagged],
        dlqTopic: topics.dlq,
        // Like the ingestor, held back by the expedited lane only: most critical records are
        // recognised here (by their label), so the normal lane's backlog must pile up after
        // this stage, on patterns.tagged, not in front of it (docs/architecture.md#priority-under-overload).
        downstream: { stage: 'priority-router', topics: [topics.taggedPriority] },
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
          // The same encoder and extender (subject patterns.tagged-value) on both topics.
          urgentTopics: new Set([topics.normalizedPriority]),
          expedited: {
            topic: topics.taggedPriority,
            applies: (record, inference) =>
              policy.expedites({
                source: record.source,
                kind: record.kind,
                tenant: record.tenant,
                tier: record.tier,
                region: record.region,
                inference,
              }),
          },
          extractFeatures,
          hasModel: (modelKey) => live.hasModel(modelKey),
          inference,
          observe: (source, prediction, row) => {
            const model = driftModelOf(prediction.modelName, prediction.modelVersion);
            if (model) drift.observe(source, model, row.values, prediction.label);
          },
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
