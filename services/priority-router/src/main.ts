import { loadConfig, string, url } from '@patternflow/config';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { loadPolicy } from '@patternflow/policy';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec, type SchemaEncoder } from '@patternflow/registry';
import { exitOnStartupFailure, runStage, stageConfigChecks, stageConfigSpec } from '@patternflow/service';
import { createRouteHandler } from './handler.ts';
import { createRouter } from './route.ts';

const config = loadConfig(
  {
    ...stageConfigSpec('priority-router'),
    registryUrl: url('PF_REGISTRY_URL', ['http', 'https'], 'http://127.0.0.1:18081/apis/ccompat/v7'),
    policyFile: string('PF_POLICY_FILE', new URL('../../../policies/routing.yaml', import.meta.url).pathname),
  },
  process.env,
  [stageConfigChecks],
);
const logger = createLogger({ service: 'priority-router', level: config.logLevel });

async function main(): Promise<void> {
  const topics = topicNames(config.topicNamespace);
  // An invalid policy stops the start here, with the file, rule and problem in the error.
  const policy = loadPolicy(config.policyFile);
  logger.info(
    { policyFile: config.policyFile, version: policy.version, lanes: policy.lanes },
    'policy loaded',
  );
  const codec = createSchemaCodec({ url: config.registryUrl });
  const routedSchema = loadSchema('routed');
  const encoders = new Map<string, { topic: string; encoder: SchemaEncoder }>();
  for (const lane of policy.lanes) {
    const topic = topics.routed(lane);
    encoders.set(lane, { topic, encoder: await codec.encoderFor(valueSubject(topic), routedSchema) });
  }
  const laneTopics = policy.lanes.map((lane) => topics.routed(lane));
  await runStage({
    stage: 'priority-router',
    config,
    logger,
    metrics: createStageMetrics('priority-router'),
    inputTopics: [topics.tagged],
    outputTopics: laneTopics,
    dlqTopic: topics.dlq,
    downstream: { stage: 'sink', topics: laneTopics },
    handler: createRouteHandler({
      decoder: codec.decoderFor(loadSchema('tagged')),
      encoders,
      route: createRouter({ policy }),
    }),
  });
}

main().catch(exitOnStartupFailure(logger));
