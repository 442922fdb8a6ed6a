import { loadConfig, string, url } from '@patternflow/config';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { loadPolicy } from '@patternflow/policy';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { exitOnStartupFailure, runStage, stageConfigChecks, stageConfigSpec } from '@patternflow/service';
import { createRouteHandler, type LaneOutput } from './handler.ts';
import { createRouteDecider, routingViewSchema } from './route.ts';

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
  const taggedSchema = loadSchema('tagged');
  const routedSchema = loadSchema('routed');
  const lanes = new Map<string, LaneOutput>();
  for (const lane of policy.lanes) {
    const topic = topics.routed(lane);
    const subject = valueSubject(topic);
    lanes.set(lane, {
      topic,
      encoder: await codec.encoderFor(subject, routedSchema),
      extender: await codec.extenderFor(subject, routedSchema, valueSubject(topics.tagged), taggedSchema),
    });
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
      decoder: codec.decoderFor(routingViewSchema(taggedSchema)),
      fullDecoder: codec.decoderFor(taggedSchema),
      lanes,
      decide: createRouteDecider({ policy }),
    }),
  });
}

main().catch(exitOnStartupFailure(logger));
