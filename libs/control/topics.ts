import type { TopicSpec } from '@patternflow/kafka';
import type { TopicNames } from '@patternflow/records';

/**
 * The control plane's topics. The policy topic has one partition, so the policy records and
 * the replicas' acknowledgements are totally ordered, and is compacted: the latest record of
 * each key lives forever, older ones go. The audit topic keeps every entry forever.
 */
export function controlTopicSpecs(topics: TopicNames): TopicSpec[] {
  return [
    {
      topic: topics.controlPolicy,
      partitions: 1,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0' },
    },
    { topic: topics.audit, partitions: 1, configs: { 'cleanup.policy': 'delete', 'retention.ms': '-1' } },
  ];
}
