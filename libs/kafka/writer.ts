import type { Kafka, Producer } from 'kafkajs';
import { kafkaFailure } from './kafka-errors.ts';

export interface ControlMessage {
  topic: string;
  key: string;
  /** null: a tombstone, which compaction removes with every older record of the key. */
  value: Buffer | string | null;
}

export interface TransactionalWriter {
  /** Writes every message or none: read_committed consumers (kafkajs's default) see them together. */
  write(messages: readonly ControlMessage[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A writer of rare control records (a policy change and its audit entry) that must land
 * together: one Kafka transaction per write. `transactionalId` must be stable per writer; a
 * second writer with the same id fences the first. A writer killed inside a transaction
 * holds read_committed readers back until the broker aborts it after `transactionTimeoutMs`.
 */
export function openTransactionalWriter(options: {
  kafka: Kafka;
  transactionalId: string;
  transactionTimeoutMs?: number;
}): TransactionalWriter {
  let producer: Promise<Producer> | undefined;
  const connected = (): Promise<Producer> => {
    producer ??= (async () => {
      const p = options.kafka.producer({
        transactionalId: options.transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: options.transactionTimeoutMs ?? 10_000,
      });
      await p.connect();
      return p;
    })();
    producer.catch(() => {
      producer = undefined;
    });
    return producer;
  };
  return {
    async write(messages) {
      try {
        const transaction = await (await connected()).transaction();
        try {
          const byTopic = new Map<string, { key: string; value: Buffer | string | null }[]>();
          for (const m of messages) {
            const list = byTopic.get(m.topic) ?? [];
            list.push({ key: m.key, value: m.value });
            byTopic.set(m.topic, list);
          }
          await transaction.sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, list]) => ({ topic, messages: list })),
          });
          await transaction.commit();
        } catch (error) {
          await transaction.abort().catch(() => {});
          throw error;
        }
      } catch (error) {
        throw kafkaFailure(error) ?? error;
      }
    },
    async close() {
      const p = producer;
      producer = undefined;
      if (p) await (await p.catch(() => undefined))?.disconnect().catch(() => {});
    },
  };
}
