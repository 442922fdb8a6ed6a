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

/**
 * Headers `patternflow dlq redrive` sets on a dead letter it sends back to its source topic.
 * Stages do not read them; a stage that dead-letters the record again keeps them with the
 * record's other headers, so the DLQ shows a redrive loop and the CLI bounds it.
 */
export const RedriveHeaders = {
  /** How many times this record has been redriven (1 on the first redrive). */
  count: 'pf-redrive-count',
  /** The DLQ record it was redriven from: `<dlq topic>/<partition>:<offset>`. */
  from: 'pf-redriven-from',
  at: 'pf-redriven-at',
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
