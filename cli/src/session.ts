import { createKafka, kafkaFailure } from '@patternflow/kafka';
import { createLogger, type Logger } from '@patternflow/observability';
import { type TopicNames, topicNames } from '@patternflow/records';
import { createSchemaCodec, type SchemaCodec } from '@patternflow/registry';
import { groupIdOf, kafkaLinkOf, linkSecrets, registryLinkOf, type Stage } from '@patternflow/service';
import type { Admin, Consumer, ConsumerConfig, Kafka, Producer } from 'kafkajs';
import pino from 'pino';
import type { CliSettings } from './settings.ts';

/**
 * What a command needs from the outside world, created on first use and closed once at
 * the end of the command: a command that only reads a file never connects to Kafka.
 */
export interface Session {
  readonly settings: CliSettings;
  readonly topics: TopicNames;
  readonly logger: Logger;
  groupIdOf(stage: Stage): string;
  kafka(): Kafka;
  /** A connected admin client. */
  admin(): Promise<Admin>;
  /** A connected idempotent producer. */
  producer(): Promise<Producer>;
  /** A connected consumer; disconnected when the session closes. */
  consumer(config: ConsumerConfig): Promise<Consumer>;
  codec(): SchemaCodec;
  close(): Promise<void>;
}

export function createSession(settings: CliSettings, options: { logLevel?: string } = {}): Session {
  // Results go to stdout; the clients' own logs (kafkajs) to stderr, silent unless asked for:
  // a failure already ends in one line that says what went wrong.
  const logger = createLogger({
    service: 'patternflow-cli',
    level: options.logLevel ?? 'silent',
    destination: pino.destination(2),
    secrets: linkSecrets(settings),
  });
  const closers: (() => Promise<void>)[] = [];
  let kafka: Kafka | undefined;
  let admin: Promise<Admin> | undefined;
  let producer: Promise<Producer> | undefined;
  let codec: SchemaCodec | undefined;

  const getKafka = (): Kafka => {
    kafka ??= createKafka({
      ...kafkaLinkOf(settings),
      clientId: 'patternflow-cli',
      logger,
      clientLogLevel: 'error',
      // A person waits for the answer: give up after ~5 s instead of a service's ~40 s.
      retries: 3,
    });
    return kafka;
  };

  /** Connects, and maps kafkajs's failure to a PipelineError the exit code table knows. */
  async function connected<T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(
    client: T,
  ): Promise<T> {
    try {
      await client.connect();
    } catch (error) {
      throw kafkaFailure(error) ?? error;
    }
    closers.push(() => client.disconnect());
    return client;
  }

  return {
    settings,
    topics: topicNames(settings.topicNamespace),
    logger,
    groupIdOf: (stage) => groupIdOf(stage, settings),
    kafka: getKafka,
    admin() {
      admin ??= connected(getKafka().admin());
      return admin;
    },
    producer() {
      producer ??= connected(getKafka().producer({ idempotent: true, maxInFlightRequests: 5 }));
      return producer;
    },
    consumer(config) {
      return connected(getKafka().consumer(config));
    },
    codec() {
      codec ??= createSchemaCodec(registryLinkOf(settings));
      return codec;
    },
    async close() {
      // Newest first; a failing close must not hide the command's own result.
      for (const close of closers.reverse()) await close().catch(() => undefined);
      closers.length = 0;
    },
  };
}
