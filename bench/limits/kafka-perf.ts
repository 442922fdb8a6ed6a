/**
 * The broker's own ceiling, measured with Kafka's perf tools (the Java clients that ship
 * with the broker): ProducerPerformance with acks=all, then ConsumerPerformance reading
 * the same records back. They run through `java -cp $PF_KAFKA_HOME/libs/*` on the jars
 * the Docker-less stack downloaded, against a topic of their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { createBenchKafka, createTopics, deleteTopics, round, uniqueName } from './kafka-admin.ts';
import { kafkaToolsLibs, runJava } from './kafka-tools.ts';

export interface KafkaPerfOptions {
  brokers: readonly string[];
  /** Where the stack put Kafka's jars (PF_KAFKA_HOME from `scripts/stack.sh env`). */
  kafkaHome: string;
  records: number;
  recordSize: number;
  partitions: number;
  /** Extra producer properties, e.g. { 'linger.ms': '5' }; acks=all is always set. */
  producerProps?: Readonly<Record<string, string>>;
  javaHeap?: string;
  /** Upper bound for each tool run. */
  timeoutMs?: number;
}

export interface KafkaPerfResult {
  topic: string;
  records: number;
  recordSize: number;
  partitions: number;
  produce: {
    recordsPerSec: number;
    mbPerSec: number;
    avgLatencyMs: number;
    maxLatencyMs: number;
    p50LatencyMs: number;
    p95LatencyMs: number;
    p99LatencyMs: number;
  };
  consume: {
    recordsPerSec: number;
    mbPerSec: number;
    /** Excluding the group join: records/s while fetching. */
    fetchRecordsPerSec: number;
    fetchMbPerSec: number;
    rebalanceMs: number;
  };
  units: {
    recordsPerSec: 'records/s';
    mbPerSec: 'MB/s (MiB, as the tools count)';
    latency: 'ms';
  };
}

const PRODUCER_CLASS = 'org.apache.kafka.tools.ProducerPerformance';
const CONSUMER_CLASS = 'org.apache.kafka.tools.ConsumerPerformance';

export async function measureKafkaPerfTools(options: KafkaPerfOptions): Promise<KafkaPerfResult> {
  const libs = kafkaToolsLibs(options.kafkaHome);
  const kafka = createBenchKafka(options.brokers, 'pf-bench-kafka-perf');
  const topic = uniqueName('perf');
  const logDir = mkdtempSync(join(tmpdir(), 'pf-kafka-perf-'));
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const bootstrap = options.brokers.join(',');
  const java = (mainClass: string, args: string[]) =>
    runJava({ libs, logDir, heap: options.javaHeap ?? '512m', mainClass, args, timeoutMs });

  await createTopics(kafka, [topic], options.partitions);
  try {
    const producerProps = { ...options.producerProps, 'bootstrap.servers': bootstrap, acks: 'all' };
    const produced = await java(PRODUCER_CLASS, [
      '--topic',
      topic,
      '--num-records',
      String(options.records),
      '--record-size',
      String(options.recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      ...Object.entries(producerProps).map(([key, value]) => `${key}=${value}`),
    ]);
    const consumed = await java(CONSUMER_CLASS, [
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--messages',
      String(options.records),
      '--group',
      uniqueName('perf-group'),
      '--timeout',
      '30000',
    ]);
    return {
      topic,
      records: options.records,
      recordSize: options.recordSize,
      partitions: options.partitions,
      produce: parseProducerSummary(produced),
      consume: parseConsumerSummary(consumed, options.records),
      units: { recordsPerSec: 'records/s', mbPerSec: 'MB/s (MiB, as the tools count)', latency: 'ms' },
    };
  } finally {
    await deleteTopics(kafka, [topic]);
    rmSync(logDir, { recursive: true, force: true });
  }
}

/**
 * ProducerPerformance prints a progress line every 5 s and one final line:
 * "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency,
 *  P ms 50th, P ms 95th, P ms 99th, P ms 99.9th."
 */
export function parseProducerSummary(output: string): KafkaPerfResult['produce'] {
  const final = output
    .split('\n')
    .filter((line) => line.includes('50th'))
    .pop();
  const match = final?.match(
    /([\d.]+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/,
  );
  if (!match) {
    throw new PipelineError(ErrorCodes.KAFKA, 'ProducerPerformance printed no summary line', {
      details: { output: output.slice(-2000) },
    });
  }
  const [, , recordsPerSec, mbPerSec, avg, max, p50, p95, p99] = match.map(Number);
  return {
    recordsPerSec: recordsPerSec!,
    mbPerSec: mbPerSec!,
    avgLatencyMs: avg!,
    maxLatencyMs: max!,
    p50LatencyMs: p50!,
    p95LatencyMs: p95!,
    p99LatencyMs: p99!,
  };
}

/**
 * ConsumerPerformance prints a CSV header and one row; columns are read by name:
 * data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
 * fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec.
 */
export function parseConsumerSummary(output: string, expectedRecords: number): KafkaPerfResult['consume'] {
  const lines = output.split('\n').map((line) => line.trim());
  const headerAt = lines.findIndex((line) => line.startsWith('start.time'));
  const header = lines[headerAt]?.split(',').map((cell) => cell.trim());
  const row = lines[headerAt + 1]?.split(',').map((cell) => cell.trim());
  if (headerAt < 0 || !header || !row || row.length !== header.length) {
    throw new PipelineError(ErrorCodes.KAFKA, 'ConsumerPerformance printed no result row', {
      details: { output: output.slice(-2000) },
    });
  }
  const column = (name: string): number => {
    const value = Number(row[header.indexOf(name)]);
    if (!Number.isFinite(value)) {
      throw new PipelineError(ErrorCodes.KAFKA, `ConsumerPerformance column ${name} is missing`, {
        details: { header, row },
      });
    }
    return value;
  };
  const consumed = column('data.consumed.in.nMsg');
  if (consumed < expectedRecords) {
    throw new PipelineError(
      ErrorCodes.KAFKA,
      `ConsumerPerformance read ${consumed} of ${expectedRecords} records before its timeout`,
      { details: { header, row } },
    );
  }
  return {
    recordsPerSec: round(column('nMsg.sec')),
    mbPerSec: round(column('MB.sec'), 2),
    fetchRecordsPerSec: round(column('fetch.nMsg.sec')),
    fetchMbPerSec: round(column('fetch.MB.sec'), 2),
    rebalanceMs: column('rebalance.time.ms'),
  };
}
