import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import type { Logger } from 'pino';
import { registerCompressionCodecs } from './codecs.ts';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * A kafkajs client whose own logs go to the service's pino logger (as JSON, with
 * component=kafkajs), able to read and write every Kafka codec (gzip, snappy, lz4, zstd).
 */
export function createKafka(options: {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** kafkajs's own chatter is noisy at info; warn keeps rebalances and errors. */
  clientLogLevel?: 'error' | 'warn' | 'info';
  /** kafkajs's retries per request; a command-line tool wants an answer sooner than a service. */
  retries?: number;
}): Kafka {
  const minimum = { error: logLevel.ERROR, warn: logLevel.WARN, info: logLevel.INFO }[
    options.clientLogLevel ?? 'warn'
  ];
  // Before the client exists: a fetched snappy/lz4/zstd batch must never find kafkajs without its codec.
  registerCompressionCodecs();
  const log = options.logger.child({ component: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: [...options.brokers],
    logLevel: minimum,
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 300, retries: options.retries ?? 8, maxRetryTime: 10000 },
    logCreator:
      () =>
      ({ level, log: entry }) => {
        const { message, ...fields } = entry;
        log[PINO_LEVEL[level] ?? 'info'](fields, message);
      },
  };
  return new Kafka(config);
}
