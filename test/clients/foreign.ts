/**
 * Kafka clients that are not kafkajs, for the compression tests: librdkafka (Python's
 * confluent-kafka, installed by scripts/pyclients.sh) and the Java client's console tools
 * from the local stack's Kafka jars ($PF_KAFKA_HOME/libs), plus the broker's own view of
 * the batches it stores (kafka.tools.DumpLogSegments), which names each batch's codec.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stack } from '@patternflow/harness';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAX_OUTPUT = 64 * 1024 * 1024;

export type Codec = 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface ForeignRecord {
  topic: string;
  key: string;
  value: string;
}

function kafkaClasspath(): string {
  if (!stack.kafkaHome || !existsSync(join(stack.kafkaHome, 'libs'))) {
    throw new Error('PF_KAFKA_HOME is not set to the stack Kafka (eval "$(bash scripts/stack.sh env)")');
  }
  return `${join(stack.kafkaHome, 'libs')}/*`;
}

/** The venv python with confluent-kafka; installs it on first use (cached in .tools/). */
export function librdkafkaPython(): string {
  return execFileSync('bash', [join(ROOT, 'scripts', 'pyclients.sh')], { encoding: 'utf8' }).trim();
}

/** Produces with librdkafka, compression.type=<codec>, lingering so records batch. */
export async function produceWithLibrdkafka(
  codec: Codec,
  records: readonly ForeignRecord[],
): Promise<number> {
  const python = librdkafkaPython();
  const child = execFile(
    python,
    [join(ROOT, 'test', 'clients', 'produce.py'), stack.brokers.join(','), codec],
    {
      maxBuffer: MAX_OUTPUT,
    },
  );
  const done = new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
  child.stdin?.end(records.map((record) => JSON.stringify(record)).join('\n'));
  const { stdout, stderr, code } = await done;
  if (code !== 0) throw new Error(`librdkafka producer exited ${code}: ${stderr.trim()}`);
  return Number(stdout.trim());
}

/**
 * Produces with the Java client's console producer (key<TAB>value per line), one topic
 * per JVM, compression.type=<codec>. Records must not contain tabs or newlines.
 */
export async function produceWithJavaConsole(codec: Codec, records: readonly ForeignRecord[]): Promise<void> {
  const byTopic = new Map<string, ForeignRecord[]>();
  for (const record of records) byTopic.set(record.topic, [...(byTopic.get(record.topic) ?? []), record]);
  await Promise.all(
    [...byTopic].map(async ([topic, list]) => {
      const child = execFile(
        'java',
        [
          '-cp',
          kafkaClasspath(),
          'org.apache.kafka.tools.ConsoleProducer',
          '--bootstrap-server',
          stack.brokers.join(','),
          '--topic',
          topic,
          // ConsoleProducer sets compression.type from --compression-codec (default none)
          // after --producer-property: without it the batches go uncompressed.
          '--compression-codec',
          codec,
          '--producer-property',
          `compression.type=${codec}`,
          '--producer-property',
          'linger.ms=100',
          '--request-required-acks',
          'all',
          '--property',
          'parse.key=true',
          '--property',
          'key.separator=\t',
        ],
        { maxBuffer: MAX_OUTPUT },
      );
      let stderr = '';
      child.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.stdin?.end(`${list.map((record) => `${record.key}\t${record.value}`).join('\n')}\n`);
      const code = await closed;
      if (code !== 0) throw new Error(`Java console producer exited ${code} on ${topic}: ${stderr.trim()}`);
    }),
  );
}

/**
 * The keys of the first `count` records of the topics matching `include`, read by the
 * Java client's console consumer from the beginning; it gives up after `timeoutMs` idle.
 */
export async function keysReadByJavaConsole(
  include: string,
  count: number,
  timeoutMs = 30_000,
): Promise<string[]> {
  const { stdout } = await run(
    'java',
    [
      '-cp',
      kafkaClasspath(),
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      stack.brokers.join(','),
      '--include',
      include,
      '--from-beginning',
      '--max-messages',
      String(count),
      '--timeout-ms',
      String(timeoutMs),
      '--property',
      'print.key=true',
      '--property',
      'print.value=false',
    ],
    { maxBuffer: MAX_OUTPUT },
    // A timeout before `count` records exits non-zero: the caller's count assertion says more.
  ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return stdout.split('\n').filter((line) => line.length > 0);
}

/** The broker's data directory, from the stack's kafka.properties next to PF_KAFKA_HOME. */
function brokerLogDir(): string {
  const properties = readFileSync(join(dirname(stack.kafkaHome), 'kafka.properties'), 'utf8');
  const line = properties.split('\n').find((l) => l.startsWith('log.dirs='));
  if (!line) throw new Error('kafka.properties names no log.dirs');
  return line.slice('log.dirs='.length).split(',')[0]!.trim();
}

/**
 * The codec of every record batch the broker stores for each topic (the broker keeps the
 * producer's codec: compression.type=producer), as kafka.tools.DumpLogSegments prints it.
 */
export async function storedBatchCodecs(topics: readonly string[]): Promise<Map<string, string[]>> {
  const logDir = brokerLogDir();
  const wanted = new Set(topics);
  const files: { topic: string; file: string }[] = [];
  for (const dir of readdirSync(logDir)) {
    const topic = dir.replace(/-\d+$/, '');
    if (!wanted.has(topic)) continue;
    for (const name of readdirSync(join(logDir, dir))) {
      if (name.endsWith('.log')) files.push({ topic, file: join(logDir, dir, name) });
    }
  }
  const codecs = new Map<string, string[]>(topics.map((topic) => [topic, []]));
  if (files.length === 0) return codecs;
  // One JVM for all files: it prints "Dumping <file>" before each file's batches.
  const { stdout } = await run(
    'java',
    ['-cp', kafkaClasspath(), 'kafka.tools.DumpLogSegments', '--files', files.map((f) => f.file).join(',')],
    { maxBuffer: MAX_OUTPUT },
  );
  const topicOfFile = new Map(files.map(({ topic, file }) => [file, topic]));
  let current: string[] | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('Dumping ')) {
      const topic = topicOfFile.get(line.slice('Dumping '.length).trim());
      current = topic === undefined ? undefined : codecs.get(topic);
      continue;
    }
    const match = /compresscodec: (\w+)/.exec(line);
    if (match && current) current.push(match[1]!.toLowerCase());
  }
  return codecs;
}
