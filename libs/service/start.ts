import { type Check, type ConfigOf, type ConfigSpec, type Env, loadConfig } from '@patternflow/config';
import { createKafka, createStageRunner, ensureTopics, type StageHandler } from '@patternflow/kafka';
import {
  createLogger,
  createStageMetrics,
  type Logger,
  type StageMetrics,
  startHttpServer,
} from '@patternflow/observability';
import type { Kafka } from 'kafkajs';
import {
  type Stage,
  type StageConfig,
  stageConfigChecks,
  stageConfigSpec,
  stageRunnerSettings,
} from './config.ts';

/** What a service is built from besides its configuration; tests and the benchmark pass their own. */
export interface StageDeps {
  logger: Logger;
  metrics: StageMetrics;
}

/** What a service builds from its configuration: its topics, its handler, what to close. */
export interface StageParts {
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

/** One service: how it reads its configuration and how it builds its stage from it. */
export interface StageService<C extends StageConfig> {
  readonly stage: Stage;
  /** Parses and validates the environment; throws PF_CONFIG_INVALID naming every bad variable. */
  loadConfig(env: Env): C;
  /** Connects what the stage needs besides Kafka (registry, models, database) and builds its handler. */
  build(config: C, deps: StageDeps): Promise<StageParts>;
}

/** A service and the function that starts it in-process (tests, tools). */
export interface DefinedStageService<C extends StageConfig> extends StageService<C> {
  start(config: C, deps?: StageDeps): Promise<RunningStage>;
}

/** The configuration of a service: the shared stage settings plus its own `config` fields. */
export type ServiceConfig<S extends ConfigSpec> = StageConfig & ConfigOf<S>;

/**
 * Declares a service: its own config fields (added to the shared stage settings, whose
 * cross-field rules always apply), extra checks, and how it builds its stage.
 */
export function defineStageService<S extends ConfigSpec>(definition: {
  stage: Stage;
  config: S;
  checks?: readonly Check<ServiceConfig<S>>[];
  build(config: ServiceConfig<S>, deps: StageDeps): Promise<StageParts>;
}): DefinedStageService<ServiceConfig<S>> {
  const spec = { ...stageConfigSpec(definition.stage), ...definition.config };
  const checks: Check<ServiceConfig<S>>[] = [stageConfigChecks, ...(definition.checks ?? [])];
  const service: DefinedStageService<ServiceConfig<S>> = {
    stage: definition.stage,
    loadConfig: (env) => loadConfig(spec, env, checks) as ServiceConfig<S>,
    build: definition.build,
    start: (config, deps) => startService(service, config, deps),
  };
  return service;
}

/** A started stage. */
export interface RunningStage {
  /** Settles when the stage fails for good (a non-retriable, non-record error). */
  readonly failed: Promise<Error>;
  /** Finishes the chunk in flight, commits what was acknowledged, leaves the group, closes. */
  stop(): Promise<void>;
}

export function defaultDeps(stage: Stage, config: StageConfig): StageDeps {
  return {
    logger: createLogger({ service: stage, level: config.logLevel }),
    metrics: createStageMetrics(stage),
  };
}

/**
 * Builds and starts one stage: health and metrics endpoint, topics, the Kafka runner. Owns
 * connect → build → run; `stop()` closes all of it. Installs no signal handler and never
 * exits the process: that is `runMain`'s job.
 */
export async function startService<C extends StageConfig>(
  service: StageService<C>,
  config: C,
  deps: StageDeps = defaultDeps(service.stage, config),
): Promise<RunningStage> {
  const { logger, metrics } = deps;
  const { stage } = service;
  const parts = await service.build(config, deps);
  let fatal = false;
  try {
    const kafka = createKafka({ brokers: config.brokers, clientId: `patternflow-${stage}`, logger });
    const topics = [...new Set([...parts.inputTopics, ...parts.outputTopics, parts.dlqTopic])];
    const created = await ensureTopics(
      kafka,
      topics.map((topic) => ({ topic, partitions: config.topicPartitions })),
    );
    if (created.length > 0) logger.info({ topics: created }, 'created topics');
    const inputTopics = parts.inputTopicPattern
      ? await withMatchingTopics(kafka, parts.inputTopics, parts.inputTopicPattern)
      : parts.inputTopics;

    const settings = stageRunnerSettings(stage, config, parts.downstream);
    const runner = createStageRunner({
      stage,
      kafka,
      topics: inputTopics,
      dlqTopic: parts.dlqTopic,
      handler: parts.handler,
      logger,
      metrics,
      ...settings,
    });
    const server = await startHttpServer({
      port: config.httpPort,
      host: config.httpHost,
      registry: metrics.registry,
      health: { live: () => !fatal, ready: () => !fatal && runner.isReady() },
    });
    const failed = runner.failed.then((error) => {
      fatal = true;
      return error;
    });
    let stopped: Promise<void> | undefined;
    const stop = () => {
      stopped ??= (async () => {
        try {
          await runner.stop();
        } finally {
          await parts.close?.();
          server.close();
        }
      })();
      return stopped;
    };
    try {
      await runner.start();
    } catch (error) {
      await stop().catch(() => {});
      throw error;
    }
    logger.info({ inputTopics, httpPort: config.httpPort, groupId: settings.groupId }, 'stage running');
    return { failed, stop };
  } catch (error) {
    if (!fatal) await parts.close?.().catch(() => {});
    throw error;
  }
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

/**
 * The whole of a service's main.ts: configuration from the environment (a bad variable ends
 * in one structured fatal log line and exit 1), start, then SIGTERM/SIGINT finish the chunk
 * in flight, commit and exit 0; a fatal stage failure exits 1 so that a supervisor restarts
 * the process clean.
 */
export function runMain<C extends StageConfig>(service: StageService<C>, env: Env = process.env): void {
  let config: C;
  try {
    config = service.loadConfig(env);
  } catch (error) {
    createLogger({ service: service.stage }).fatal({ err: error }, 'invalid configuration');
    process.exit(1);
  }
  const deps = defaultDeps(service.stage, config);
  const { logger } = deps;
  let exiting = false;
  const exit = (running: RunningStage | undefined, reason: string, exitCode: number) => {
    if (exiting) return;
    exiting = true;
    logger.info({ reason }, 'stopping');
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(exitCode || 1);
    }, config.sessionTimeoutMs + 10_000);
    forced.unref();
    (running ? running.stop() : Promise.resolve()).then(
      () => {
        logger.info({ exitCode }, 'stopped');
        process.exit(exitCode);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(exitCode || 1);
      },
    );
  };
  const started = startService(service, config, deps);
  // Installed before the start finishes: a signal during startup still stops cleanly.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      started.then(
        (running) => exit(running, signal, 0),
        () => {},
      );
    });
  }
  started.then(
    (running) => {
      running.failed.then((error) => {
        logger.fatal({ err: error }, 'stage failed');
        exit(running, 'fatal error', 1);
      });
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'failed to start');
      process.exit(1);
    },
  );
}
