import { loadConfig, string, url } from '@patternflow/config';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { createLogger, createStageMetrics } from '@patternflow/observability';
import { loadSchema, topicNames } from '@patternflow/records';
import { createSchemaCodec } from '@patternflow/registry';
import { exitOnStartupFailure, runStage, stageConfigChecks, stageConfigSpec } from '@patternflow/service';
import pg from 'pg';
import { Counter, Histogram } from 'prom-client';
import { createSinkStore } from './cold-storage.ts';
import { createSinkHandler } from './handler.ts';

const config = loadConfig(
  {
    ...stageConfigSpec('sink'),
    registryUrl: url('PF_REGISTRY_URL', ['http', 'https'], 'http://127.0.0.1:18081/apis/ccompat/v7'),
    pgUrl: url(
      'PF_PG_URL',
      ['postgres', 'postgresql'],
      'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
    ),
    pgSchema: string('PF_PG_SCHEMA', 'public'),
    coldDir: string('PF_COLD_DIR', new URL('../../../.data/cold', import.meta.url).pathname),
    lanes: string('PF_LANES', 'critical,standard,bulk'),
    coldLanes: string('PF_COLD_LANES', 'bulk'),
    instanceId: string('PF_SINK_INSTANCE_ID', 'sink'),
  },
  process.env,
  [
    stageConfigChecks,
    (c) =>
      /^[a-z_][a-z0-9_]{0,62}$/.test(c.pgSchema)
        ? undefined
        : `PF_PG_SCHEMA must be a plain lower-case SQL identifier, got "${c.pgSchema}"`,
  ],
);
const logger = createLogger({ service: 'sink', level: config.logLevel });

async function main(): Promise<void> {
  const topics = topicNames(config.topicNamespace);
  const lanes = config.lanes.split(',').map((lane) => lane.trim());
  const metrics = createStageMetrics('sink');
  const rows = new Counter({
    name: 'pf_sink_rows_total',
    help: 'Records written by the sink: inserted, or duplicate (already stored, absorbed)',
    labelNames: ['lane', 'result'],
    registers: [metrics.registry],
  });
  const latency = new Histogram({
    name: 'pf_ingest_to_sink_seconds',
    help: 'From the ingest record timestamp to the durable write in PostgreSQL',
    labelNames: ['lane'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [metrics.registry],
  });

  const pool = new pg.Pool({
    connectionString: config.pgUrl,
    // One connection per partition in flight, plus one for reconcile and the admin queries.
    max: config.partitionsConsumedConcurrently + 1,
    options: `-c search_path=${config.pgSchema}`,
  });
  pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${config.pgSchema}`);
  } catch (error) {
    throw new PipelineError(
      ErrorCodes.SINK_UNAVAILABLE,
      `cannot reach PostgreSQL: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const store = createSinkStore({
    pool,
    coldDir: config.coldDir,
    coldLanes: config.coldLanes.split(',').map((lane) => lane.trim()),
    instanceId: config.instanceId,
  });
  await store.migrate();
  const reconciled = await store.reconcile();
  logger.info({ ...reconciled, coldDir: config.coldDir }, 'cold storage reconciled');

  const codec = createSchemaCodec({ url: config.registryUrl });
  await runStage({
    stage: 'sink',
    config,
    logger,
    metrics,
    inputTopics: lanes.map((lane) => topics.routed(lane)),
    outputTopics: [],
    dlqTopic: topics.dlq,
    handler: createSinkHandler({ decoder: codec.decoderFor(loadSchema('routed')), store, rows, latency }),
    close: () => pool.end(),
  });
}

main().catch(exitOnStartupFailure(logger));
