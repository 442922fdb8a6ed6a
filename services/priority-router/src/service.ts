import { loadSchema, topicNames, valueSubject } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, groupIdOf, policyFileField, registryLinkOf } from '@patternflow/service';
import { createRouteHandler, type LaneOutput } from './handler.ts';
import { startLivePolicy } from './live-policy.ts';
import { createPolicyMetrics } from './metrics.ts';
import { createRouteDecider, type RouteDecider, routingViewSchema } from './route.ts';

/**
 * Tagged records (patterns.tagged.priority read ahead of patterns.tagged) → the lane the
 * routing policy in force picks, on patterns.routed.<lane>.
 * The policy in force lives on the control topic and changes without a restart
 * (live-policy.ts); PF_POLICY_FILE seeds that topic when it is empty.
 */
export const router = defineStageService({
  stage: 'priority-router',
  config: { policyFile: policyFileField() },
  async build(config, { logger, metrics, kafka }) {
    const topics = topicNames(config.topicNamespace);
    // An invalid policy in force (or seed file) stops the start here, naming the rule and the problem.
    const live = await startLivePolicy({
      kafka,
      topics,
      groupId: groupIdOf('priority-router', config),
      seedFile: config.policyFile,
      logger,
      metrics: createPolicyMetrics(metrics.registry),
    });
    try {
      const policy = live.current();
      logger.info({ version: policy.version, lanes: policy.lanes, replica: live.replica }, 'policy loaded');
      const codec = createSchemaCodec(registryLinkOf(config));
      const taggedSchema = loadSchema('tagged');
      const routedSchema = loadSchema('routed');
      // The lane outputs are built once: a policy update keeps the lanes (live-policy.ts refuses others).
      const lanes = new Map<string, LaneOutput>();
      for (const lane of policy.lanes) {
        const topic = topics.routed(lane);
        const subject = valueSubject(topic);
        lanes.set(lane, {
          topic,
          encoder: await codec.encoderFor(subject, routedSchema),
          // Records of patterns.tagged.priority are framed under the same subject (patterns.tagged-value).
          extender: await codec.extenderFor(subject, routedSchema, valueSubject(topics.tagged), taggedSchema),
        });
      }
      // One decider per policy, built when the handler first meets it.
      let decider: { policy: unknown; decide: RouteDecider } | undefined;
      const currentDecider = (): RouteDecider => {
        const inForce = live.current();
        if (decider?.policy !== inForce)
          decider = { policy: inForce, decide: createRouteDecider({ policy: inForce }) };
        return decider.decide;
      };
      const laneTopics = policy.lanes.map((lane) => topics.routed(lane));
      return {
        // The expedited lane first, and ahead of the rest (libs/kafka/stage-runner.ts): its records
        // are routed by the same rules; only their wait differs.
        inputTopics: [topics.taggedPriority, topics.tagged],
        priorityTopics: [topics.taggedPriority],
        outputTopics: laneTopics,
        dlqTopic: topics.dlq,
        downstream: { stage: 'sink', topics: laneTopics },
        handler: createRouteHandler({
          decoder: codec.decoderFor(routingViewSchema(taggedSchema)),
          fullDecoder: codec.decoderFor(taggedSchema),
          lanes,
          decider: currentDecider,
        }),
        failed: live.failed,
        close: () => live.stop(),
      };
    } catch (error) {
      await live.stop().catch(() => {});
      throw error;
    }
  },
});
