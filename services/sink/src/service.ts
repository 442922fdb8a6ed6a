import { randomUUID } from 'node:crypto';
import { integer, list, removed, string } from '@patternflow/config';
import { readPolicyInForce } from '@patternflow/control';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { coldLanesOf } from '@patternflow/policy';
import { loadSchema, topicNames } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import {
  defineStageService,
  groupIdOf,
  policyFileField,
  postgresConfigProblems,
  postgresConfigSpec,
  postgresPoolOptions,
  registryLinkOf,
} from '@patternflow/service';
import { createSinkStore } from './cold-storage.ts';
import { openDatabase, SQL_IDENTIFIER } from './database.ts';
import { createFeedbackCounter, createFeedbackHandler, createFeedbackQuality } from './feedback.ts';
import { createSinkHandler } from './handler.ts';
import { createSinkMetrics } from './metrics.ts';

/** Routed records → PostgreSQL (idempotent on id) and, for the cold lanes, exactly-once gzip NDJSON files. */
export const sink = defineStageService({
  stage: 'sink',
  config: {
    // The lanes to consume are the routing policy's in force (the control topic; this file
    // seeds an empty one): the router writes exactly those.
    policyFile: policyFileField(),
    // PF_PG_URL (sslmode in it) and PF_PG_CA_FILE
    ...postgresConfigSpec(),
    pgSchema: string('PF_PG_SCHEMA', 'public'),
    coldDir: string('PF_COLD_DIR', new URL('../../../.data/cold', import.meta.url).pathname),
    coldLanes: list('PF_COLD_LANES', ['bulk']),
    instanceId: string('PF_SINK_INSTANCE_ID', 'sink'),
    // Ground truth feedback (docs/models.md, "Semantic observability"): precision, recall and
    // F1 over the latest pairs per model version, within the last hours, recomputed this often.
    feedbackWindowPairs: integer('PF_FEEDBACK_WINDOW_PAIRS', { default: 1000, min: 1, max: 10_000_000 }),
    feedbackWindowHours: integer('PF_FEEDBACK_WINDOW_HOURS', { default: 24, min: 1, max: 24 * 366 }),
    feedbackRefreshMs: integer('PF_FEEDBACK_REFRESH_MS', { default: 15_000, min: 200, max: 3_600_000 }),
    lanesRetired: removed(
      'PF_LANES',
      'is no longer read: the sink consumes the lanes declared by the routing policy (PF_POLICY_FILE)',
    ),
  },
  checks: [
    (c) => postgresConfigProblems(c).join('; ') || undefined,
    (c) =>
      SQL_IDENTIFIER.test(c.pgSchema)
        ? undefined
        : `PF_PG_SCHEMA must be a plain lower-case SQL identifier, got "${c.pgSchema}"`,
  ],
  async build(config, { logger, metrics, kafka }) {
    const topics = topicNames(config.topicNamespace);
    // The same policy the routers route by. Its lane layout (lanes, and where each lands)
    // changes only with a redeploy, so reading it once at start is enough.
    const { policy, record } = await readPolicyInForce({
      kafka,
      topics,
      groupId: `${groupIdOf('sink', config)}.policy-read.${randomUUID()}`,
      seedFile: config.policyFile,
      logger,
    });
    const origin = record
      ? `the routing policy in force (version ${policy.version}, control topic ${topics.controlPolicy})`
      : `the routing policy ${config.policyFile}`;
    logger.info(
      {
        version: policy.version,
        lanes: policy.lanes,
        priorityLane: policy.lanes[0],
        fromControlTopic: record !== undefined,
      },
      'lanes of the routing policy',
    );
    const unknownColdLanes = config.coldLanes.filter((lane) => !policy.lanes.includes(lane));
    if (unknownColdLanes.length > 0) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `invalid configuration: PF_COLD_LANES names ${unknownColdLanes.join(', ')}, which ${origin} does not declare (its lanes: ${policy.lanes.join(', ')})`,
      );
    }
    // Regional rules forbid some regions the cold files: they hold only if the sink writes cold
    // files for exactly the lanes the policy says land there.
    const policyColdLanes = coldLanesOf(policy);
    if (policyColdLanes && [...policyColdLanes].sort().join(',') !== [...config.coldLanes].sort().join(',')) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `invalid configuration: PF_COLD_LANES is ${config.coldLanes.join(',') || '(empty)'}, but ${origin} sends ${policyColdLanes.join(', ') || 'no lane'} to cold files (its sinks: mapping); set PF_COLD_LANES=${policyColdLanes.join(',')}`,
      );
    }
    const pool = await openDatabase({
      connection: postgresPoolOptions(config),
      schema: config.pgSchema,
      partitionsInFlight: config.partitionsConsumedConcurrently,
      logger,
    });
    try {
      const store = createSinkStore({
        pool,
        coldDir: config.coldDir,
        coldLanes: config.coldLanes,
        instanceId: config.instanceId,
      });
      await store.migrate();
      const reconciled = await store.reconcile();
      logger.info({ ...reconciled, coldDir: config.coldDir }, 'cold storage reconciled');
      const codec = createSchemaCodec(registryLinkOf(config));
      const routedHandler = createSinkHandler({
        decoder: codec.decoderFor(loadSchema('routed')),
        store,
        expeditedTopics: new Set([topics.routed(policy.lanes[0]!)]),
        ...createSinkMetrics(metrics.registry),
      });
      // The feedback is a second input of the same consumer: the sink owns PostgreSQL, and a
      // chunk is one partition, so each chunk goes to one of the two handlers.
      const feedbackHandler = createFeedbackHandler({
        pool,
        received: createFeedbackCounter(metrics.registry),
      });
      const quality = createFeedbackQuality({
        pool,
        registry: metrics.registry,
        window: { pairs: config.feedbackWindowPairs, hours: config.feedbackWindowHours },
      });
      let refreshing = false;
      const refresh = async () => {
        if (refreshing) return;
        refreshing = true;
        try {
          await quality.refresh();
        } catch (error) {
          logger.warn({ err: error }, 'feedback precision/recall not refreshed');
        } finally {
          refreshing = false;
        }
      };
      const timer = setInterval(refresh, config.feedbackRefreshMs);
      timer.unref();
      void refresh();
      // The FIRST lane of the policy is its priority lane (critical in policies/routing.yaml): read
      // ahead of the other lanes, and not held by a backlog of theirs. Lanes are policy data, so
      // the order of `lanes:` says which one it is (docs/routing.md#expedite).
      const laneTopics = policy.lanes.map((lane) => topics.routed(lane));
      return {
        inputTopics: [...laneTopics, topics.feedback],
        priorityTopics: laneTopics.slice(0, 1),
        outputTopics: [],
        dlqTopic: topics.dlq,
        handler: async (records) => {
          const feedback = records.filter((r) => r.topic === topics.feedback);
          if (feedback.length === 0) return routedHandler(records);
          if (feedback.length === records.length) return feedbackHandler(records);
          const routed = records.filter((r) => r.topic !== topics.feedback);
          const [a, b] = [await routedHandler(routed), await feedbackHandler(feedback)];
          return {
            messages: [...a.messages, ...b.messages],
            deadLetters: [...a.deadLetters, ...b.deadLetters],
          };
        },
        close: async () => {
          clearInterval(timer);
          await pool.end();
        },
      };
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  },
});
