import { list, removed, string } from '@patternflow/config';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { loadPolicy } from '@patternflow/policy';
import { loadSchema, topicNames } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import {
  defineStageService,
  policyFileField,
  postgresConfigProblems,
  postgresConfigSpec,
  postgresPoolOptions,
  registryLinkOf,
} from '@patternflow/service';
import { createSinkStore } from './cold-storage.ts';
import { openDatabase, SQL_IDENTIFIER } from './database.ts';
import { createSinkHandler } from './handler.ts';
import { createSinkMetrics } from './metrics.ts';

/** Routed records → PostgreSQL (idempotent on id) and, for the cold lanes, exactly-once gzip NDJSON files. */
export const sink = defineStageService({
  stage: 'sink',
  config: {
    // The lanes to consume are the routing policy's: the router writes exactly those.
    policyFile: policyFileField(),
    // PF_PG_URL (sslmode in it) and PF_PG_CA_FILE
    ...postgresConfigSpec(),
    pgSchema: string('PF_PG_SCHEMA', 'public'),
    coldDir: string('PF_COLD_DIR', new URL('../../../.data/cold', import.meta.url).pathname),
    coldLanes: list('PF_COLD_LANES', ['bulk']),
    instanceId: string('PF_SINK_INSTANCE_ID', 'sink'),
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
  async build(config, { logger, metrics }) {
    const topics = topicNames(config.topicNamespace);
    const policy = loadPolicy(config.policyFile);
    const unknownColdLanes = config.coldLanes.filter((lane) => !policy.lanes.includes(lane));
    if (unknownColdLanes.length > 0) {
      throw new PipelineError(
        ErrorCodes.CONFIG_INVALID,
        `invalid configuration: PF_COLD_LANES names ${unknownColdLanes.join(', ')}, which the routing policy ${config.policyFile} does not declare (its lanes: ${policy.lanes.join(', ')})`,
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
      return {
        inputTopics: policy.lanes.map((lane) => topics.routed(lane)),
        outputTopics: [],
        dlqTopic: topics.dlq,
        handler: createSinkHandler({
          decoder: codec.decoderFor(loadSchema('routed')),
          store,
          ...createSinkMetrics(metrics.registry),
        }),
        close: () => pool.end(),
      };
    } catch (error) {
      await pool.end().catch(() => {});
      throw error;
    }
  },
});
