/**
 * The priority-router's logic: attach the policy's decision to a tagged record. Pure and
 * synchronous; main.ts owns Kafka and publishes the result to patterns.routed.<lane>.
 */
import type { Policy } from '@patternflow/policy';
import type { RoutedPattern, TaggedPattern } from '@patternflow/records';

export interface RouterDeps {
  policy: Policy;
  /** Clock for route.routed_at (epoch ms); injectable for tests. */
  now?: () => number;
}

export function createRouter({
  policy,
  now = Date.now,
}: RouterDeps): (record: TaggedPattern) => RoutedPattern {
  const policyVersion = policy.version;
  return (record) => {
    const { lane, rule } = policy.route(record);
    return { ...record, route: { lane, rule, policy_version: policyVersion, routed_at: now() } };
  };
}
