import { randomUUID } from 'node:crypto';
import { list, removed, string, url } from '@patternflow/config';
import { readPolicyInForce } from '@patternflow/control';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { coldLanesOf } from '@patternflow/policy';
import { loadSchema, topicNames } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { defineStageService, groupIdOf, policyFileField } from '@patternflow/service';
import { createSinkStore } from './cold-storage.ts';
import { openDatabase, SQL_IDENTIFIER } from './database.ts';
import { createSinkHandler } from './handler.ts';
import { createSinkMetrics } from './metrics.ts';

/** Routed records → PostgreSQL (idempotent on id) and, for the cold lanes, exactly-once gzip NDJSON files. */
export const sink = defineStageService({
  stage: 'sink',
  config: {
    // The lanes to consume are the routing policy's in force (the control topic; this file
    // seeds an empty one): the router writes exactly those.
    policyFile: policyFileField(),
    pgUrl: url(
      'PF_PG_URL',
      ['postgres', 'postgresql'],
      'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
    ),
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
      { version: policy.version, lanes: policy.lanes, fromControlTopic: record !== undefined },
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
      url: config.pgUrl,
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
      const codec = createSchemaCodec({ url: config.registryUrl });
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
