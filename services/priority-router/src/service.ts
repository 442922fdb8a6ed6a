import { loadPolicy } from '@patternflow/policy';
import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, policyFileField, registryLinkOf } from '@patternflow/service';
import { createRouteHandler, type LaneOutput } from './handler.ts';
import { createRouteDecider, routingViewSchema } from './route.ts';

/** Tagged records → the lane the routing policy picks, on patterns.routed.<lane>. */
export const router = defineStageService({
  stage: 'priority-router',
  config: { policyFile: policyFileField() },
  async build(config, { logger }) {
    const topics = topicNames(config.topicNamespace);
    // An invalid policy stops the start here, with the file, rule and problem in the error.
    const policy = loadPolicy(config.policyFile);
    logger.info(
      { policyFile: config.policyFile, version: policy.version, lanes: policy.lanes },
      'policy loaded',
    );
    const codec = createSchemaCodec(registryLinkOf(config));
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
    return {
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
    };
  },
});
