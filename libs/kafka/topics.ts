import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Topic-level settings applied at creation (e.g. cleanup.policy=compact); an existing topic keeps its own. */
  configs?: Readonly<Record<string, string>>;
}

/**
 * Creates the topics that do not exist yet (the broker does not auto-create topics).
 * Safe to run from every service at every start; racing creators are fine.
 */
const RACE_ERRORS = new Set(['TOPIC_ALREADY_EXISTS', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export async function ensureTopics(kafka: Kafka, specs: readonly TopicSpec[]): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const wanted = new Set(specs.map((spec) => spec.topic));
    const created: string[] = [];
    // Services starting together race to create the same new topics; the loser can get
    // TOPIC_ALREADY_EXISTS, or UNKNOWN_TOPIC_OR_PARTITION while the winner's topic has no
    // leader yet. Both settle within a few metadata refreshes.
    for (let attempt = 1; ; attempt++) {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((spec) => !existing.has(spec.topic));
      try {
        if (missing.length > 0) {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((spec) => ({
              topic: spec.topic,
              numPartitions: spec.partitions,
              replicationFactor: 1,
              ...(spec.configs
                ? { configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })) }
                : {}),
            })),
          });
          created.push(...missing.map((spec) => spec.topic));
        }
        await admin.fetchTopicMetadata({ topics: [...wanted] });
        return created;
      } catch (error) {
        // createTopics reports per-topic failures inside an aggregate error.
        const nested = (error as { errors?: { type?: string }[] }).errors ?? [];
        const types = [(error as { type?: string }).type, ...nested.map((e) => e.type)];
        const racing = types.some((type) => type !== undefined && RACE_ERRORS.has(type));
        if (!racing && !(error as { retriable?: boolean }).retriable) throw error;
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
