import type { PipelineError } from '@patternflow/errors';
import type { InboundRecord, OutboundMessage } from './records.ts';

/** Headers a DLQ record carries on top of the original record's own headers. */
export const DeadLetterHeaders = {
  reason: 'pf-dlq-reason',
  message: 'pf-dlq-message',
  stage: 'pf-dlq-stage',
  sourceTopic: 'pf-dlq-source-topic',
  sourcePartition: 'pf-dlq-source-partition',
  sourceOffset: 'pf-dlq-source-offset',
  failedAt: 'pf-dlq-failed-at',
} as const;

const MAX_MESSAGE_LENGTH = 1000;

/**
 * The DLQ record for a failed input: the original key, value and headers unchanged, plus
 * why (the error code and message), where (stage, topic, partition, offset) and when.
 */
export function toDeadLetterMessage(
  dlqTopic: string,
  stage: string,
  record: InboundRecord,
  error: PipelineError,
  now: number,
): OutboundMessage {
  return {
    topic: dlqTopic,
    key: record.key,
    value: record.value ?? Buffer.alloc(0),
    headers: {
      ...record.headers,
      [DeadLetterHeaders.reason]: error.code,
      [DeadLetterHeaders.message]: error.message.slice(0, MAX_MESSAGE_LENGTH),
      [DeadLetterHeaders.stage]: stage,
      [DeadLetterHeaders.sourceTopic]: record.topic,
      [DeadLetterHeaders.sourcePartition]: String(record.partition),
      [DeadLetterHeaders.sourceOffset]: record.offset,
      [DeadLetterHeaders.failedAt]: new Date(now).toISOString(),
    },
  };
}
