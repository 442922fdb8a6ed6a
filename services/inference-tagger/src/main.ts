import { integer, loadConfig, string, url } from '@patternflow/config';
import type { PredictionOutcome } from '@patternflow/models';
import { loadModelRuntime } from '@patternflow/models';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { exitOnStartupFailure, runStage, stageConfigChecks, stageConfigSpec } from '@patternflow/service';
import { extractFeatures } from '@patternflow/sources';
import { createTagHandler, type FeatureRow, featureViewSchema } from './handler.ts';
import { predictByModel } from './inference.ts';
import { createMicroBatcher } from './micro-batcher.ts';

const config = loadConfig(
  {
    ...stageConfigSpec('inference-tagger'),
    registryUrl: url('PF_REGISTRY_URL', ['http', 'https'], 'http://127.0.0.1:18081/apis/ccompat/v7'),
    modelsDir: string('PF_MODELS_DIR', new URL('../../../models', import.meta.url).pathname),
    inferenceMaxBatch: integer('PF_INFERENCE_MAX_BATCH', { default: 512, min: 1, max: 8192 }),
    inferenceLingerMs: integer('PF_INFERENCE_LINGER_MS', { default: 5, min: 0, max: 1000 }),
    intraOpThreads: integer('PF_INFERENCE_THREADS', { default: 1, min: 1, max: 64 }),
  },
  process.env,
  [stageConfigChecks],
);
const logger = createLogger({ service: 'inference-tagger', level: config.logLevel });

async function main(): Promise<void> {
  const topics = topicNames(config.topicNamespace);
  const metrics = createStageMetrics('inference-tagger');
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
  const inference = createMicroBatcher<FeatureRow, PredictionOutcome>({
    maxSize: config.inferenceMaxBatch,
    lingerMs: config.inferenceLingerMs,
    run: predictByModel(runtime),
  });
  const codec = createSchemaCodec({ url: config.registryUrl });
  await runStage({
    stage: 'inference-tagger',
    config,
    logger,
    metrics,
    inputTopics: [topics.normalized],
    outputTopics: [topics.tagged],
    dlqTopic: topics.dlq,
    downstream: { stage: 'priority-router', topics: [topics.tagged] },
    handler: createTagHandler({
      decoder: codec.decoderFor(featureViewSchema(loadSchema('normalized'))),
      fullDecoder: codec.decoderFor(loadSchema('normalized')),
      encoder: await codec.encoderFor(valueSubject(topics.tagged), loadSchema('tagged')),
      extender: await codec.extenderFor(
        valueSubject(topics.tagged),
        loadSchema('tagged'),
        valueSubject(topics.normalized),
        loadSchema('normalized'),
      ),
      taggedTopic: topics.tagged,
      extractFeatures,
      hasModel: (modelKey) => runtime.hasModel(modelKey),
      inference,
    }),
    close: () => runtime.close(),
  });
}

main().catch(exitOnStartupFailure(logger));
