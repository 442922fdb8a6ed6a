import { valueSubject } from '@patternflow/records';
import type { Kafka } from 'kafkajs';

export interface DeleteNamespaceOptions {
  /** Also delete the consumer groups named `<namespace>.…` (a run's services and CLI commands). */
  consumerGroups?: boolean;
}

/**
 * Deletes every topic named `<namespace>.…` of each namespace, for a test's `after`. Best effort:
 * a test that ran must not fail on its cleanup (the broker may be the thing it took down).
 */
export async function deleteNamespace(
  kafka: Kafka,
  namespaces: string | readonly string[],
  options: DeleteNamespaceOptions = {},
): Promise<void> {
  const prefixes = (typeof namespaces === 'string' ? [namespaces] : namespaces).map(
    (namespace) => `${namespace}.`,
  );
  const mine = (name: string) => prefixes.some((prefix) => name.startsWith(prefix));
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter(mine);
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => {});
    if (options.consumerGroups) {
      const groups = (await admin.listGroups()).groups.map((group) => group.groupId).filter(mine);
      if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    }
  } catch {
    // Unreachable broker: nothing to clean that a later run would trip on (names are unique).
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Deletes, soft then permanently, the value subjects of `topics` from the registry, so that
 * test runs do not pile up subjects in the shared registry. Best effort, like deleteNamespace.
 */
export async function deleteValueSubjects(registryUrl: string, topics: readonly string[]): Promise<void> {
  for (const topic of topics) {
    const subject = `${registryUrl}/subjects/${encodeURIComponent(valueSubject(topic))}`;
    for (const query of ['', '?permanent=true'])
      await fetch(`${subject}${query}`, { method: 'DELETE' }).catch(() => {});
  }
}
