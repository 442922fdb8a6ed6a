import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';

export interface ReadRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Reads `topic` (or several: a stage's output and its expedited sibling) from the beginning
 * with a fresh consumer group until `expected` records arrived; fails after `timeoutMs`
 * saying how many did.
 */
export async function readTopic(
  kafka: Kafka,
  topic: string | readonly string[],
  expected: number,
  options: { groupId?: string; timeoutMs?: number } = {},
): Promise<ReadRecord[]> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const consumer = kafka.consumer({
    groupId: options.groupId ?? `reader.${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 100,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: typeof topic === 'string' ? [topic] : [...topic], fromBeginning: true });
  const out: ReadRecord[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${[topic].flat().join(', ')}: ${out.length} of ${expected} records after ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
            out.push({ key: message.key, value: message.value, headers });
            if (out.length >= expected) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}
