export type { Admin, Kafka } from 'kafkajs';
export type { BacklogLimit } from './backlog.ts';
export { type Batcher, createBatcher } from './batcher.ts';
export { createKafka, type KafkaClientOptions, verifyKafkaLink } from './client.ts';
export { OUTPUT_COMPRESSIONS, type OutputCompression } from './codecs.ts';
export { DeadLetterHeaders, RedriveHeaders, toDeadLetterMessage } from './dead-letter.ts';
export { type FollowOptions, followTopic, readTopicToEnd, type TopicFollower } from './follow.ts';
export { setOffsetsOfEmptyGroup, type TopicOffsets } from './group-offsets.ts';
export { kafkaFailure } from './kafka-errors.ts';
export type { DeadLetter, InboundRecord, OutboundMessage, StageHandler, StageResult } from './records.ts';
export {
  KAFKA_SASL_MECHANISMS,
  KAFKA_SECURITY_PROTOCOLS,
  type KafkaSaslMechanism,
  type KafkaSecurity,
  type KafkaSecurityProtocol,
} from './security.ts';
export { createStageRunner, type StageRunner, type StageRunnerOptions } from './stage-runner.ts';
export { ensureTopics, type TopicSpec } from './topics.ts';
export {
  locateUnreadableBatch,
  type SkipRecord,
  skipUnreadableRange,
  type UnreadableRange,
} from './unreadable.ts';
export { type ControlMessage, openTransactionalWriter, type TransactionalWriter } from './writer.ts';
