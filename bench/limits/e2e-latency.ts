/**
 * The broker's latency floor: Kafka's own EndToEndLatency tool (Java clients, shipped with
 * the broker) sends one message at a time with acks=all and waits until its consumer has
 * read it back before sending the next. Each message's latency is produce → ack → fetch by
 * a consumer polling with fetch.max.wait.ms=0: the least a record can spend crossing one
 * topic on this broker, the floor under each of the pipeline's four hops.
 *
 * It runs on a topic of its own (created here, deleted after) and commits the offsets of a
 * group it names `test-group-<epoch ms>`; that group is deleted too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { Kafka } from 'kafkajs';
import { createBenchKafka, createTopics, deleteTopics, uniqueName } from './kafka-admin.ts';
import { kafkaToolsLibs, runJava } from './kafka-tools.ts';

export interface EndToEndLatencyOptions {
  brokers: readonly string[];
  /** Where the stack put Kafka's jars (PF_KAFKA_HOME from `scripts/stack.sh env`). */
  kafkaHome: string;
  /** The first message carries the JVM's warm-up (~130 ms): thousands keep it out of p99. */
  messages: number;
  messageBytes: number;
  partitions: number;
  javaHeap?: string;
  timeoutMs?: number;
}

export interface EndToEndLatencySummary {
  /** The tool's own mean over all messages, in ms with decimals. */
  avgMs: number;
  /** Whole milliseconds: the tool truncates each latency to ms before ranking. */
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export interface EndToEndLatencyResult extends EndToEndLatencySummary {
  topic: string;
  messages: number;
  messageBytes: number;
  partitions: number;
  acks: 'all';
}

const TOOL_CLASS = 'org.apache.kafka.tools.EndToEndLatency';

export async function measureEndToEndLatency(
  options: EndToEndLatencyOptions,
): Promise<EndToEndLatencyResult> {
  const libs = kafkaToolsLibs(options.kafkaHome);
  const kafka = createBenchKafka(options.brokers, 'pf-bench-e2e-latency');
  const topic = uniqueName('e2e');
  const logDir = mkdtempSync(join(tmpdir(), 'pf-kafka-e2e-'));
  await createTopics(kafka, [topic], options.partitions);
  const startedAt = Date.now();
  try {
    // Positional: broker_list topic num_messages producer_acks message_size_bytes
    const output = await runJava({
      libs,
      logDir,
      heap: options.javaHeap ?? '256m',
      mainClass: TOOL_CLASS,
      args: [options.brokers.join(','), topic, String(options.messages), 'all', String(options.messageBytes)],
      timeoutMs: options.timeoutMs ?? 5 * 60_000,
    });
    return {
      topic,
      messages: options.messages,
      messageBytes: options.messageBytes,
      partitions: options.partitions,
      acks: 'all',
      ...parseEndToEndLatency(output),
    };
  } finally {
    await deleteToolGroups(kafka, topic, startedAt).catch(() => {});
    await deleteTopics(kafka, [topic]);
    rmSync(logDir, { recursive: true, force: true });
  }
}

/**
 * The tool prints "<i>\t<ms>" every 1000 messages, then
 *   Avg latency: 2.0489 ms
 *   Percentiles: 50th = 1, 99th = 9, 99.9th = 19
 */
export function parseEndToEndLatency(output: string): EndToEndLatencySummary {
  const avg = output.match(/^Avg latency: ([\d.]+) ms$/m);
  const percentiles = output.match(/^Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)$/m);
  if (!avg || !percentiles) {
    throw new PipelineError(ErrorCodes.KAFKA, 'EndToEndLatency printed no summary', {
      details: { output: output.slice(-2000) },
    });
  }
  return {
    avgMs: Number(avg[1]),
    p50Ms: Number(percentiles[1]),
    p99Ms: Number(percentiles[2]),
    p999Ms: Number(percentiles[3]),
  };
}

/**
 * The tool's group is `test-group-<its start in epoch ms>`: only groups named for a moment
 * of this run and holding offsets of this run's topic are deleted, never someone else's.
 */
async function deleteToolGroups(kafka: Kafka, topic: string, startedAt: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const candidates = (await admin.listGroups()).groups
      .map((group) => group.groupId)
      .filter((groupId) => {
        const at = Number(groupId.match(/^test-group-(\d+)$/)?.[1]);
        return at >= startedAt && at <= Date.now();
      });
    const ours: string[] = [];
    for (const groupId of candidates) {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      if (offsets.some((entry) => entry.partitions.some((p) => Number(p.offset) >= 0))) ours.push(groupId);
    }
    if (ours.length > 0) await admin.deleteGroups(ours);
  } finally {
    await admin.disconnect();
  }
}
