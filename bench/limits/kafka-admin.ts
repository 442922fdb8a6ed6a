/**
 * Small Kafka helpers for the limit measurements: quiet clients, unique topic names,
 * topic create/delete. Each measurement creates its own topics and deletes them after.
 */
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

/**
 * A kafkajs client that only logs errors, to stderr: a benchmark's output is its result
 * table. "Not the leader" right after a topic was created is retried by kafkajs and
 * says nothing about the measurement, so it is not logged.
 */
export function createBenchKafka(brokers: readonly string[], clientId: string): Kafka {
  return new Kafka({
    clientId,
    brokers: [...brokers],
    logLevel: logLevel.ERROR,
    logCreator:
      () =>
      ({ label, log }) => {
        const { message, error } = log as { message?: string; error?: string };
        if (typeof error === 'string' && error.includes('not the leader')) return;
        process.stderr.write(`kafkajs ${label} [${clientId}] ${message ?? ''} ${error ?? ''}\n`);
      },
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10000 },
  });
}

/** `pf-bench-<what>-<random>`: never collides with pipeline topics or a parallel run. */
export function uniqueName(what: string): string {
  return `pf-bench-${what}-${randomBytes(4).toString('hex')}`;
}

export async function createTopics(
  kafka: Kafka,
  topics: readonly string[],
  partitions: number,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  } finally {
    await admin.disconnect();
  }
}

/** Best effort: a failed delete must not hide the measurement's own result or error. */
export async function deleteTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteTopics({ topics: [...topics], timeout: 15000 });
  } catch {
    // Left-over topics are named pf-bench-*, so they are easy to spot and remove.
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
