import { type ConfigOf, hostPorts, integer, oneOf, port, string } from '@patternflow/config';

export const STAGES = ['ingestor', 'inference-tagger', 'priority-router', 'sink'] as const;
export type Stage = (typeof STAGES)[number];

const DEFAULT_HTTP_PORT: Record<Stage, number> = {
  ingestor: 9464,
  'inference-tagger': 9465,
  'priority-router': 9466,
  sink: 9467,
};

/** The settings every stage shares; each service adds its own to this spec. */
export function stageConfigSpec(stage: Stage) {
  return {
    brokers: hostPorts('PF_KAFKA_BROKERS', ['127.0.0.1:19092']),
    httpPort: port('PF_HTTP_PORT', DEFAULT_HTTP_PORT[stage]),
    httpHost: string('PF_HTTP_HOST', '127.0.0.1'),
    logLevel: oneOf('PF_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, 'info'),
    topicNamespace: string('PF_TOPIC_NAMESPACE', ''),
    topicPartitions: integer('PF_TOPIC_PARTITIONS', { default: 3, min: 1, max: 256 }),
    groupId: string('PF_GROUP_ID', ''),
    maxBatchRecords: integer('PF_MAX_BATCH_RECORDS', { default: 500, min: 1, max: 10_000 }),
    partitionsConsumedConcurrently: integer('PF_PARTITIONS_CONCURRENCY', { default: 3, min: 1, max: 64 }),
    maxFetchBytes: integer('PF_MAX_FETCH_BYTES', {
      default: 4 * 1024 * 1024,
      min: 64 * 1024,
      max: 256 * 1024 * 1024,
    }),
    sessionTimeoutMs: integer('PF_SESSION_TIMEOUT_MS', { default: 30_000, min: 6_000, max: 300_000 }),
    compression: oneOf('PF_COMPRESSION', ['none', 'gzip'] as const, 'none'),
    pauseWhenBacklogAbove: integer('PF_PAUSE_WHEN_BACKLOG_ABOVE', { default: 50_000, min: 0 }),
    resumeWhenBacklogBelow: integer('PF_RESUME_WHEN_BACKLOG_BELOW', { default: 25_000, min: 0 }),
    backlogCheckMs: integer('PF_BACKLOG_CHECK_MS', { default: 1_000, min: 50, max: 60_000 }),
  };
}

export type StageConfig = ConfigOf<ReturnType<typeof stageConfigSpec>>;

/** Cross-field rules of the shared settings, for loadConfig's `checks`. */
export function stageConfigChecks(config: StageConfig): string | undefined {
  if (config.pauseWhenBacklogAbove > 0 && config.resumeWhenBacklogBelow >= config.pauseWhenBacklogAbove) {
    return `PF_RESUME_WHEN_BACKLOG_BELOW (${config.resumeWhenBacklogBelow}) must be below PF_PAUSE_WHEN_BACKLOG_ABOVE (${config.pauseWhenBacklogAbove})`;
  }
  return undefined;
}

/** Consumer group ids follow one convention so that a stage can find its downstream group. */
export function groupIdOf(stage: Stage, namespace: string): string {
  return namespace === '' ? `patternflow.${stage}` : `${namespace}.patternflow.${stage}`;
}
