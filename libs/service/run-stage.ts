import { createKafka, createStageRunner, ensureTopics, type StageHandler } from '@patternflow/kafka';
import { type Logger, type StageMetrics, startHttpServer } from '@patternflow/observability';
import type { Kafka } from 'kafkajs';
import { groupIdOf, type Stage, type StageConfig } from './config.ts';

export interface StageDefinition {
  stage: Stage;
  config: StageConfig;
  logger: Logger;
  metrics: StageMetrics;
  inputTopics: readonly string[];
  /**
   * Also consume the existing topics whose names match (resolved at start, like kafkajs's
   * own RegExp subscriptions: a topic created later is picked up at the next start).
   */
  inputTopicPattern?: RegExp;
  /** Topics this stage writes (created if missing, with the input and DLQ topics). */
  outputTopics: readonly string[];
  dlqTopic: string;
  handler: StageHandler;
  /** The stage that reads our output, for the downstream-backlog pause. */
  downstream?: { stage: Stage; topics: readonly string[] };
  /** Closes what the service opened besides Kafka (database pools, model sessions). */
  close?: () => Promise<void>;
}

/**
 * Starts one stage: health and metrics endpoint, topics, the Kafka runner, and signal
 * handling. SIGTERM/SIGINT finish the chunk in flight, commit, and exit 0; a fatal
 * runner failure exits 1 so that a supervisor restarts the process clean.
 */
export async function runStage(definition: StageDefinition): Promise<void> {
  const { config, logger, metrics, stage } = definition;
  const kafka = createKafka({ brokers: config.brokers, clientId: `patternflow-${stage}`, logger });
  let fatal = false;

  const topics = [...new Set([...definition.inputTopics, ...definition.outputTopics, definition.dlqTopic])];
  const created = await ensureTopics(
    kafka,
    topics.map((topic) => ({ topic, partitions: config.topicPartitions })),
  );
  if (created.length > 0) logger.info({ topics: created }, 'created topics');
  const inputTopics = definition.inputTopicPattern
    ? await withMatchingTopics(kafka, definition.inputTopics, definition.inputTopicPattern)
    : definition.inputTopics;

  const runner = createStageRunner({
    stage,
    kafka,
    groupId: config.groupId || groupIdOf(stage, config.topicNamespace),
    topics: inputTopics,
    dlqTopic: definition.dlqTopic,
    handler: definition.handler,
    logger,
    metrics,
    maxBatchRecords: config.maxBatchRecords,
    partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
    maxFetchBytes: config.maxFetchBytes,
    sessionTimeoutMs: config.sessionTimeoutMs,
    compression: config.compression,
    ...(definition.downstream && config.pauseWhenBacklogAbove > 0
      ? {
          backlog: {
            downstreamGroupId: groupIdOf(definition.downstream.stage, config.topicNamespace),
            downstreamTopics: definition.downstream.topics,
            pauseWhenBacklogAbove: config.pauseWhenBacklogAbove,
            resumeWhenBacklogBelow: config.resumeWhenBacklogBelow,
            checkIntervalMs: config.backlogCheckMs,
          },
        }
      : {}),
  });

  const server = await startHttpServer({
    port: config.httpPort,
    host: config.httpHost,
    registry: metrics.registry,
    health: { live: () => !fatal, ready: () => !fatal && runner.isReady() },
  });

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string, exitCode: number) => {
    if (stopping) return stopping;
    logger.info({ reason }, 'stopping');
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(exitCode || 1);
    }, config.sessionTimeoutMs + 10_000);
    forced.unref();
    stopping = (async () => {
      try {
        await runner.stop();
        await definition.close?.();
      } catch (error) {
        logger.error({ err: error }, 'error while stopping');
        exitCode = exitCode || 1;
      }
      server.close();
      logger.info({ exitCode }, 'stopped');
      process.exit(exitCode);
    })();
    return stopping;
  };
  process.once('SIGTERM', () => shutdown('SIGTERM', 0));
  process.once('SIGINT', () => shutdown('SIGINT', 0));
  runner.failed.then((error) => {
    fatal = true;
    logger.fatal({ err: error }, 'stage failed');
    shutdown('fatal error', 1);
  });

  await runner.start();
  logger.info(
    {
      inputTopics,
      httpPort: config.httpPort,
      groupId: config.groupId || groupIdOf(stage, config.topicNamespace),
    },
    'stage running',
  );
}

/** The end of every main.ts: log the startup failure and exit non-zero. */
export function exitOnStartupFailure(logger: Logger) {
  return (error: unknown) => {
    logger.fatal({ err: error }, 'failed to start');
    process.exit(1);
  };
}

async function withMatchingTopics(
  kafka: Kafka,
  topics: readonly string[],
  pattern: RegExp,
): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const matching = (await admin.listTopics()).filter((topic) => pattern.test(topic));
    return [...new Set([...topics, ...matching])].sort();
  } finally {
    await admin.disconnect();
  }
}
