/**
 * Publishes generated events to the ingest topics (the load generator of docker-compose's
 * demo profile, and a tool for trying the pipeline by hand).
 *
 *   PF_LOADGEN_EVENTS (10000)  PF_LOADGEN_RATE (1000/s)  PF_LOADGEN_SEED (1)
 *   PF_LOADGEN_AVRO_PERCENT (40)  PF_KAFKA_BROKERS  PF_REGISTRY_URL  PF_TOPIC_NAMESPACE
 */
import { hostPorts, integer, loadConfig, string, url } from '@patternflow/config';
import { produceGeneratedEvents } from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { topicNames } from '@patternflow/records';

const config = loadConfig({
  brokers: hostPorts('PF_KAFKA_BROKERS', ['127.0.0.1:19092']),
  registryUrl: url('PF_REGISTRY_URL', ['http', 'https'], 'http://127.0.0.1:18081/apis/ccompat/v7'),
  namespace: string('PF_TOPIC_NAMESPACE', ''),
  events: integer('PF_LOADGEN_EVENTS', { default: 10_000, min: 1 }),
  rate: integer('PF_LOADGEN_RATE', { default: 1_000, min: 1 }),
  seed: integer('PF_LOADGEN_SEED', { default: 1, min: 0 }),
  avroPercent: integer('PF_LOADGEN_AVRO_PERCENT', { default: 40, min: 0, max: 100 }),
});
const logger = createLogger({ service: 'loadgen' });

const result = await produceGeneratedEvents({
  kafka: createKafka({ brokers: config.brokers, clientId: 'patternflow-loadgen', logger }),
  registryUrl: config.registryUrl,
  topics: topicNames(config.namespace),
  seed: config.seed,
  count: config.events,
  avroShare: config.avroPercent / 100,
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
