import type { Server } from 'node:http';
import { type Check, type ConfigOf, type ConfigSpec, type Env, loadConfig } from '@patternflow/config';
import { dispositionOf, PipelineError } from '@patternflow/errors';
import {
  createKafka,
  createStageRunner,
  ensureTopics,
  type Kafka,
  type StageHandler,
  type StageRunner,
  type StageRunnerOptions,
  verifyKafkaLink,
} from '@patternflow/kafka';
import {
  createLogger,
  createStageMetrics,
  type Logger,
  type StageMetrics,
  startHttpServer,
} from '@patternflow/observability';
import {
  type Stage,
  type StageConfig,
  stageConfigChecks,
  stageConfigSpec,
  stageRunnerSettings,
} from './config.ts';
import { kafkaLinkOf, linkSecrets } from './links.ts';
import { waitOutUnreadableBatch } from './unreadable-batch.ts';

/** What a service is built from besides its configuration; tests and the benchmark pass their own. */
export interface StageDeps {
  logger: Logger;
  metrics: StageMetrics;
}

/**
 * What `build` gets besides its configuration: the stage's deps and its Kafka client (not
 * connected), for a service that reads or writes more than its stage's topics (the router
 * follows the routing policy's control topic).
 */
export interface StageBuildDeps extends StageDeps {
  kafka: Kafka;
}

/** What a service builds from its configuration: its topics, its handler, what to close. */
export interface StageParts {
  inputTopics: readonly string[];
  /**
   * Input topics of the expedited lane (a subset of inputTopics): their chunks never wait
   * behind the other topics' chunks, and the downstream-backlog pause does not hold them
   * (libs/kafka/stage-runner.ts, docs/architecture.md#priority-under-overload).
   */
  priorityTopics?: readonly string[];
  /**
   * Also consume the topics whose names match: those that exist at start, and those created
   * while the stage runs (found within PF_TOPIC_REFRESH_MS).
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
  /**
   * Settles when something the build started and the stage depends on fails for good (the
   * router's follower of the policy control topic): the stage then fails like a fatal error.
   */
  failed?: Promise<Error>;
}

/** One service: how it reads its configuration and how it builds its stage from it. */
export interface StageService<C extends StageConfig> {
  readonly stage: Stage;
  /** Parses and validates the environment; throws PF_CONFIG_INVALID naming every bad variable. */
  loadConfig(env: Env): C;
  /** Connects what the stage needs besides Kafka (registry, models, database) and builds its handler. */
  build(config: C, deps: StageBuildDeps): Promise<StageParts>;
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
  build(config: ServiceConfig<S>, deps: StageBuildDeps): Promise<StageParts>;
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
    logger: createLogger({ service: stage, level: config.logLevel, secrets: linkSecrets(config) }),
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
  let fatal = false;
  let stuck = false;
  let runner: StageRunner | undefined;
  // Up before the build: live while the stage waits for a dependency, ready once it consumes.
  const server: Server = await startHttpServer({
    port: config.httpPort,
    host: config.httpHost,
    registry: metrics.registry,
    health: { live: () => !fatal, ready: () => !fatal && !stuck && (runner?.isReady() ?? false) },
  });
  const kafkaLink = { ...kafkaLinkOf(config), clientId: `patternflow-${stage}`, logger };
  const kafka = createKafka(kafkaLink);
  let parts: StageParts;
  try {
    // Refused Kafka credentials or an untrusted broker certificate end the start here, after
    // one connection, before the build waits on other dependencies (PF_KAFKA_AUTH/TLS).
    await verifyKafkaLink(kafkaLink);
    parts = await buildWhenDependenciesAnswer(service, config, { ...deps, kafka });
  } catch (error) {
    server.close();
    throw error;
  }
  const admin = kafka.admin();
  let adminConnected = false;
  let topicWatch: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  let failWith: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    failWith = resolve;
  });
  const settings = stageRunnerSettings(stage, config, parts.downstream);
  parts.failed?.then((error) => {
    if (stopped) return;
    fatal = true;
    failWith(error);
  });

  const stop = () => {
    stopped ??= (async () => {
      if (topicWatch) clearTimeout(topicWatch);
      try {
        await swapping;
        await runner?.stop();
      } finally {
        if (adminConnected) await admin.disconnect().catch(() => {});
        await parts.close?.();
        server.close();
      }
    })();
    return stopped;
  };

  const startRunner = async (
    topics: readonly string[],
    extra: Pick<StageRunnerOptions, 'stopBefore'> = {},
  ): Promise<StageRunner> => {
    const next = createStageRunner({
      stage,
      kafka,
      topics,
      dlqTopic: parts.dlqTopic,
      priorityTopics: parts.priorityTopics ?? [],
      handler: parts.handler,
      logger,
      metrics,
      ...settings,
      ...extra,
    });
    runner = next;
    next.failed.then((error) => {
      // A runner replaced after a topic change ends on purpose; only the current one counts.
      if (runner !== next) return;
      fatal = true;
      failWith(error);
    });
    if (extra.stopBefore === undefined) {
      next.unreadable.then((error) => {
        if (runner !== next || stopped) return;
        stuck = true;
        swapping = (async () => {
          await next.stop().catch(() => {});
          await waitOutUnreadableBatch({
            kafka,
            groupId: settings.groupId,
            assignment: next.assignment(),
            startRunner: (options) => startRunner(inputTopics, options),
            metrics,
            logger,
            stopped: () => stopped !== undefined,
            skipCommand: (range) =>
              `node scripts/skip-batch.ts --group ${settings.groupId} --topic ${range.topic} --partition ${range.partition} --from ${range.from} --to ${range.to} --reason "<why>"`,
          });
          if (stopped) return;
          stuck = false;
          await startRunner(inputTopics);
        })().catch((failure: unknown) => {
          logger.error({ err: failure, cause: error }, 'could not recover from an unreadable batch');
          fatal = true;
          failWith(failure as Error);
        });
      });
    }
    for (const topic of topics) metrics.inputTopics.set({ topic }, 1);
    await next.start();
    return next;
  };

  const matchingTopics = async (pattern: RegExp): Promise<string[]> => {
    if (!adminConnected) {
      await admin.connect();
      adminConnected = true;
    }
    return (await admin.listTopics()).filter((topic) => pattern.test(topic));
  };

  // Topics that match the input pattern are picked up while the stage runs: the runner is
  // replaced by one that also reads them. The old runner's stop() finishes its chunk and
  // commits what was acknowledged, so the new one neither loses nor replays committed work.
  let inputTopics: readonly string[] = parts.inputTopics;
  let swapping: Promise<void> = Promise.resolve();
  const watchTopics = (pattern: RegExp) => {
    topicWatch = setTimeout(async () => {
      if (stopped) return;
      try {
        const added = (await matchingTopics(pattern)).filter((topic) => !inputTopics.includes(topic));
        if (added.length > 0 && !stopped) {
          const topics = [...inputTopics, ...added].sort();
          logger.info({ added, topics }, 'new input topics: resubscribing');
          swapping = (async () => {
            await runner?.stop();
            inputTopics = topics;
            if (!stopped) await startRunner(topics);
          })();
          await swapping;
        }
      } catch (error) {
        logger.warn({ err: error }, 'could not refresh the input topics; trying again');
      }
      if (!stopped) watchTopics(pattern);
    }, config.topicRefreshMs);
  };

  try {
    const topics = [...new Set([...parts.inputTopics, ...parts.outputTopics, parts.dlqTopic])];
    const created = await ensureTopics(
      kafka,
      topics.map((topic) => ({ topic, partitions: config.topicPartitions })),
    );
    if (created.length > 0) logger.info({ topics: created }, 'created topics');
    if (parts.inputTopicPattern) {
      inputTopics = [
        ...new Set([...parts.inputTopics, ...(await matchingTopics(parts.inputTopicPattern))]),
      ].sort();
    }
    await startRunner(inputTopics);
    if (parts.inputTopicPattern) watchTopics(parts.inputTopicPattern);
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  logger.info({ inputTopics, httpPort: config.httpPort, groupId: settings.groupId }, 'stage running');
  return { failed, stop };
}

/**
 * A build fails while a dependency (the schema registry, PostgreSQL) does not answer: that
 * is a reason to wait, not to exit — an orchestrator would only restart the process into
 * the same wait. Anything else (bad models, a bad policy) fails the start.
 */
async function buildWhenDependenciesAnswer<C extends StageConfig>(
  service: StageService<C>,
  config: C,
  deps: StageBuildDeps,
): Promise<StageParts> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await service.build(config, deps);
    } catch (error) {
      if (dispositionOf(error) !== 'retry') throw error;
      const delayMs = Math.min(5_000, 500 * 2 ** Math.min(attempt - 1, 4));
      deps.logger.warn({ err: error, attempt, delayMs }, 'a dependency does not answer yet; building again');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
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
  let running: RunningStage | undefined;
  const started = startService(service, config, deps);
  // Installed before the start finishes: a signal while the stage still waits for a
  // dependency ends the process at once (it has consumed nothing, so nothing to commit).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (running) exit(running, signal, 0);
      else {
        logger.info({ reason: signal }, 'stopping before the stage started');
        process.exit(0);
      }
    });
  }
  started.then(
    (stage) => {
      running = stage;
      stage.failed.then((error) => {
        logger.fatal({ err: error }, 'stage failed');
        exit(stage, 'fatal error', 1);
      });
    },
    (error: unknown) => {
      // One line that says what to fix: the code and the message up front, the error below.
      const summary = error instanceof PipelineError ? `${error.code}: ${error.message}` : String(error);
      logger.fatal({ err: error }, `failed to start: ${summary}`);
      process.exit(1);
    },
  );
}
