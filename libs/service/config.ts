import { type ConfigOf, integer, oneOf, port, removed, string } from '@patternflow/config';
import { type BacklogLimit, OUTPUT_COMPRESSIONS, type StageRunnerOptions } from '@patternflow/kafka';
import { linkConfigProblems, linkConfigSpec } from './links.ts';

export const STAGES = ['ingestor', 'inference-tagger', 'priority-router', 'sink'] as const;
export type Stage = (typeof STAGES)[number];

const DEFAULT_HTTP_PORT: Record<Stage, number> = {
  ingestor: 9464,
  'inference-tagger': 9465,
  'priority-router': 9466,
  sink: 9467,
};

/** PF_GROUP_ID_INGESTOR, PF_GROUP_ID_INFERENCE_TAGGER, PF_GROUP_ID_PRIORITY_ROUTER, PF_GROUP_ID_SINK. */
export function groupIdVariable(stage: Stage): string {
  return `PF_GROUP_ID_${stage.toUpperCase().replace(/-/g, '_')}`;
}

/** The settings every stage shares; each service adds its own to this spec. */
export function stageConfigSpec(stage: Stage) {
  return {
    // PF_KAFKA_* and PF_REGISTRY_*: brokers, registry, and how to reach them (links.ts)
    ...linkConfigSpec(),
    httpPort: port('PF_HTTP_PORT', DEFAULT_HTTP_PORT[stage]),
    httpHost: string('PF_HTTP_HOST', '127.0.0.1'),
    logLevel: oneOf('PF_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, 'info'),
    topicNamespace: string('PF_TOPIC_NAMESPACE', ''),
    topicPartitions: integer('PF_TOPIC_PARTITIONS', { default: 3, min: 1, max: 256 }),
    // Every stage reads every stage's group id, not only its own: the upstream stage's
    // backlog check must watch the group that really consumes its output. With one
    // variable per process, a stage whose group was overridden was invisible upstream.
    groupIdIngestor: string(groupIdVariable('ingestor'), ''),
    groupIdInferenceTagger: string(groupIdVariable('inference-tagger'), ''),
    groupIdPriorityRouter: string(groupIdVariable('priority-router'), ''),
    groupIdSink: string(groupIdVariable('sink'), ''),
    groupIdRetired: removed(
      'PF_GROUP_ID',
      `is no longer read: set ${STAGES.map(groupIdVariable).join(' / ')} in the environment of every stage, so that each stage's upstream watches the same group`,
    ),
    maxBatchRecords: integer('PF_MAX_BATCH_RECORDS', { default: 500, min: 1, max: 10_000 }),
    partitionsConsumedConcurrently: integer('PF_PARTITIONS_CONCURRENCY', { default: 16, min: 1, max: 64 }),
    maxFetchBytes: integer('PF_MAX_FETCH_BYTES', {
      default: 4 * 1024 * 1024,
      min: 64 * 1024,
      max: 256 * 1024 * 1024,
    }),
    sessionTimeoutMs: integer('PF_SESSION_TIMEOUT_MS', { default: 30_000, min: 6_000, max: 300_000 }),
    compression: oneOf('PF_COMPRESSION', OUTPUT_COMPRESSIONS, 'lz4'),
    pauseWhenBacklogAbove: integer('PF_PAUSE_WHEN_BACKLOG_ABOVE', { default: 50_000, min: 0 }),
    resumeWhenBacklogBelow: integer('PF_RESUME_WHEN_BACKLOG_BELOW', { default: 25_000, min: 0 }),
    backlogCheckMs: integer('PF_BACKLOG_CHECK_MS', { default: 1_000, min: 50, max: 60_000 }),
    topicRefreshMs: integer('PF_TOPIC_REFRESH_MS', { default: 5_000, min: 100, max: 600_000 }),
  };
}

export type StageConfig = ConfigOf<ReturnType<typeof stageConfigSpec>>;

const GROUP_ID_KEY = {
  ingestor: 'groupIdIngestor',
  'inference-tagger': 'groupIdInferenceTagger',
  'priority-router': 'groupIdPriorityRouter',
  sink: 'groupIdSink',
} as const satisfies Record<Stage, keyof StageConfig>;

/** Cross-field rules of the shared settings, for loadConfig's `checks`. */
export function stageConfigChecks(config: StageConfig): string | undefined {
  const problems = linkConfigProblems(config);
  if (config.pauseWhenBacklogAbove > 0 && config.resumeWhenBacklogBelow >= config.pauseWhenBacklogAbove) {
    problems.push(
      `PF_RESUME_WHEN_BACKLOG_BELOW (${config.resumeWhenBacklogBelow}) must be below PF_PAUSE_WHEN_BACKLOG_ABOVE (${config.pauseWhenBacklogAbove})`,
    );
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/**
 * The consumer group of a stage: its PF_GROUP_ID_<STAGE> when set, else
 * `[<namespace>.]patternflow.<stage>`. Every stage computes every group from the same
 * settings, so a stage finds the group that reads its output.
 */
export function groupIdOf(
  stage: Stage,
  config: Pick<StageConfig, 'topicNamespace' | (typeof GROUP_ID_KEY)[Stage]>,
): string {
  const override = config[GROUP_ID_KEY[stage]];
  if (override !== '') return override;
  return config.topicNamespace === ''
    ? `patternflow.${stage}`
    : `${config.topicNamespace}.patternflow.${stage}`;
}

/** The routing policy file, read by the router (to route) and the sink (to know the lanes). */
export function policyFileField() {
  return string('PF_POLICY_FILE', new URL('../../policies/routing.yaml', import.meta.url).pathname);
}

export type StageRunnerSettings = Pick<
  StageRunnerOptions,
  | 'groupId'
  | 'maxBatchRecords'
  | 'partitionsConsumedConcurrently'
  | 'maxFetchBytes'
  | 'sessionTimeoutMs'
  | 'compression'
  | 'backlog'
>;

/** The runner's settings of one stage, from the shared configuration. */
export function stageRunnerSettings(
  stage: Stage,
  config: StageConfig,
  downstream?: { stage: Stage; topics: readonly string[] },
): StageRunnerSettings {
  const backlog: BacklogLimit | undefined =
    downstream && config.pauseWhenBacklogAbove > 0
      ? {
          downstreamGroupId: groupIdOf(downstream.stage, config),
          downstreamTopics: downstream.topics,
          pauseWhenBacklogAbove: config.pauseWhenBacklogAbove,
          resumeWhenBacklogBelow: config.resumeWhenBacklogBelow,
          checkIntervalMs: config.backlogCheckMs,
        }
      : undefined;
  return {
    groupId: groupIdOf(stage, config),
    maxBatchRecords: config.maxBatchRecords,
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    maxFetchBytes: config.maxFetchBytes,
    sessionTimeoutMs: config.sessionTimeoutMs,
    compression: config.compression,
    ...(backlog ? { backlog } : {}),
  };
}
