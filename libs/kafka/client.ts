import { ErrorCodes } from '@patternflow/errors';
import { Kafka, type KafkaConfig, logLevel } from 'kafkajs';
import type { Logger } from 'pino';
import { registerCompressionCodecs } from './codecs.ts';
import { kafkaFailure } from './kafka-errors.ts';
import { type KafkaSecurity, kafkajsSecurity, PLAINTEXT } from './security.ts';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export interface KafkaClientOptions {
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** TLS and SASL; plaintext when absent. */
  security?: KafkaSecurity;
  /** kafkajs's own chatter is noisy at info; warn keeps rebalances and errors. */
  clientLogLevel?: 'nothing' | 'error' | 'warn' | 'info';
  /** kafkajs's retries per request; a command-line tool wants an answer sooner than a service. */
  retries?: number;
}

/**
 * A kafkajs client whose own logs go to the service's pino logger (as JSON, with
 * component=kafkajs), able to read and write every Kafka codec (gzip, snappy, lz4, zstd),
 * over the configured security (TLS and SASL, or plaintext).
 */
export function createKafka(options: KafkaClientOptions): Kafka {
  const minimum = {
    nothing: logLevel.NOTHING,
    error: logLevel.ERROR,
    warn: logLevel.WARN,
    info: logLevel.INFO,
  }[options.clientLogLevel ?? 'warn'];
  // Before the client exists: a fetched snappy/lz4/zstd batch must never find kafkajs without its codec.
  registerCompressionCodecs();
  const log = options.logger.child({ component: 'kafkajs' });
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: [...options.brokers],
    ...kafkajsSecurity(options.security ?? PLAINTEXT),
    logLevel: minimum,
    connectionTimeout: 3000,
    authenticationTimeout: 10000,
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

/**
 * One connection to the brokers with the configured TLS and SASL, without retries, before
 * a stage (or a tool) builds anything: refused credentials (PF_KAFKA_AUTH) or a certificate
 * that fails verification (PF_KAFKA_TLS) end the start at once, with one attempt. kafkajs
 * itself sees a certificate failure as a connection error and retries it (9 connections
 * over ~40 s with the defaults). A broker that does not answer is not decided here: the
 * start goes on and meets it with the usual retries.
 */
export async function verifyKafkaLink(
  options: Omit<KafkaClientOptions, 'retries' | 'clientLogLevel'>,
): Promise<void> {
  if ((options.security ?? PLAINTEXT).protocol === 'plaintext') return;
  const admin = createKafka({ ...options, clientLogLevel: 'nothing', retries: 0 }).admin();
  try {
    await admin.connect();
  } catch (error) {
    const failure = kafkaFailure(error);
    if (failure === undefined) throw error;
    if (failure.code === ErrorCodes.KAFKA_AUTH || failure.code === ErrorCodes.KAFKA_TLS) throw failure;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
