import type { PipelineError } from '@patternflow/errors';
import type { IHeaders, KafkaMessage } from 'kafkajs';

/** A consumed record with its headers decoded to strings. */
export interface InboundRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface OutboundMessage {
  topic: string;
  key: Buffer | string | null;
  value: Buffer;
  headers: Record<string, string>;
}

export interface DeadLetter {
  record: InboundRecord;
  error: PipelineError;
}

/** What a handler made of a batch: messages to produce, and records that go to the DLQ. */
export interface StageResult {
  messages: OutboundMessage[];
  deadLetters: DeadLetter[];
}

export type StageHandler = (records: readonly InboundRecord[]) => Promise<StageResult>;

export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  if (!headers) return decoded;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) decoded[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return decoded;
}

export function toInboundRecord(topic: string, partition: number, message: KafkaMessage): InboundRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: Number(message.timestamp),
    key: message.key,
    value: message.value,
    headers: decodeHeaders(message.headers),
  };
}
