/**
 * Publishes generated events to the ingest topics (the load generator of docker-compose's
 * demo profile, and a tool for trying the pipeline by hand).
 *
 *   PF_LOADGEN_EVENTS (10000)  PF_LOADGEN_RATE (1000/s)  PF_LOADGEN_SEED (1)
 *   PF_LOADGEN_AVRO_PERCENT (40)  PF_TOPIC_NAMESPACE
 *   PF_LOADGEN_SHIFT: shifted traffic to show drift (docs/models.md, "Semantic observability"),
 *     e.g. "countries=NG,BR;amountScale=5;attackMix=fraud:10,account_takeover:10"; empty = unshifted
 *   the links as the services read them: PF_KAFKA_BROKERS and PF_KAFKA_SECURITY_PROTOCOL,
 *   PF_KAFKA_SASL_*, PF_KAFKA_SSL_CA_FILE; PF_REGISTRY_URL, PF_REGISTRY_USERNAME,
 *   PF_REGISTRY_PASSWORD(_FILE), PF_REGISTRY_CA_FILE (docs/operations.md, "Secure links")
 */
import { integer, loadConfig, string } from '@patternflow/config';
import { parseShift } from '@patternflow/generators';
import { produceGeneratedEvents } from '@patternflow/harness';
import { createKafka, verifyKafkaLink } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';
import { linksFromEnv } from '@patternflow/service';

/** The links and the load settings, or one fatal line naming every bad variable and exit 1. */
function settings() {
  try {
    const config = loadConfig({
      namespace: string('PF_TOPIC_NAMESPACE', ''),
      events: integer('PF_LOADGEN_EVENTS', { default: 10_000, min: 1 }),
      rate: integer('PF_LOADGEN_RATE', { default: 1_000, min: 1 }),
      seed: integer('PF_LOADGEN_SEED', { default: 1, min: 0 }),
      avroPercent: integer('PF_LOADGEN_AVRO_PERCENT', { default: 40, min: 0, max: 100 }),
      shift: string('PF_LOADGEN_SHIFT', ''),
    });
    // A bad shift is a configuration error, reported before anything connects.
    const shift = config.shift ? parseShift(config.shift) : undefined;
    return { links: linksFromEnv(), config, shift };
  } catch (error) {
    createLogger({ service: 'loadgen' }).fatal({ err: error }, 'invalid configuration');
    process.exit(1);
  }
}
const { links, config, shift } = settings();
const logger = createLogger({ service: 'loadgen', secrets: links.secrets });
const kafka = { ...links.kafka, clientId: 'patternflow-loadgen', logger };

try {
  // Refused credentials or an untrusted certificate end it after one connection.
  await verifyKafkaLink(kafka);
  const result = await produceGeneratedEvents({
    kafka: createKafka(kafka),
    registryUrl: links.registry.url,
    registry: links.registry,
    topics: topicNames(config.namespace),
    seed: config.seed,
    count: config.events,
    avroShare: config.avroPercent / 100,
    ...(shift ? { shift } : {}),
    ratePerSecond: config.rate,
    onProgress: (sent) => {
      if (sent % 10_000 === 0) logger.info({ sent }, 'progress');
    },
  });
  logger.info(
    {
      sent: result.sent,
      avro: result.avro,
      json: result.json,
      bySource: result.bySource,
      ms: result.elapsedMs,
    },
    'done',
  );
} catch (error) {
  logger.fatal({ err: error }, 'load generation failed');
  process.exit(1);
}
