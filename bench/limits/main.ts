/**
 * Runs the limit measurements on the local stack and prints one table:
 *   node bench/limits/main.ts [--quick] [--only=codec,kafka,floor,chain,single,latency] [--json]
 * Needs the stack (`make up`); reads PF_KAFKA_BROKERS and PF_KAFKA_HOME, as exported by
 * `eval "$(bash scripts/stack.sh env)"`. bench/run.ts calls the same functions.
 */
import os, { loadavg } from 'node:os';
import { measureCodec, sampleNormalizedRecord } from './codec.ts';
import { measureEndToEndLatency } from './e2e-latency.ts';
import { measureKafkaPerfTools } from './kafka-perf.ts';
import { measurePassthroughChain, measurePassthroughLatency, measureSingleRelay } from './passthrough.ts';

const STEPS = ['codec', 'kafka', 'floor', 'chain', 'single', 'latency'] as const;
type Step = (typeof STEPS)[number];

interface Row {
  measurement: string;
  value: string;
  detail: string;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const asJson = args.includes('--json');
  const only = args.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
  const steps = new Set<Step>(only ? (only.split(',') as Step[]) : STEPS);
  for (const step of steps) {
    if (!STEPS.includes(step)) throw new Error(`unknown step '${step}'; steps are ${STEPS.join(', ')}`);
  }
  const brokers = (process.env.PF_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
  const kafkaHome = process.env.PF_KAFKA_HOME;

  // Records of the size the pipeline moves: the canonical record as Avro, ~1 KB.
  const codec = await measureCodec({ durationMs: quick ? 500 : 2000, record: sampleNormalizedRecord() });
  const valueBytes = codec.avroBytes;
  const size = quick
    ? { perf: 200_000, floor: 3000, chain: 60_000, rate: 1000, seconds: 10 }
    : { perf: 1_000_000, floor: 10_000, chain: 300_000, rate: 5000, seconds: 30 };
  // Other work on the machine changes every number here: the load is part of the result.
  const results: Record<string, unknown> = { loadAverageAtStart: loadavg().map((load) => round2(load)) };
  const rows: Row[] = [];
  const log = (message: string) => process.stderr.write(`limits: ${message}\n`);

  if (steps.has('codec')) {
    results.codec = codec;
    rows.push(
      {
        measurement: 'avsc encode (1 core)',
        value: `${fmt(codec.avro.encodePerSec)} rec/s`,
        detail: `${codec.avroBytes} B/record`,
      },
      {
        measurement: 'avsc decode (1 core)',
        value: `${fmt(codec.avro.decodePerSec)} rec/s`,
        detail: `${codec.avro.decodeMbPerSec} MB/s`,
      },
      {
        measurement: 'JSON.stringify (1 core)',
        value: `${fmt(codec.json.stringifyPerSec)} rec/s`,
        detail: `${codec.jsonBytes} B/record`,
      },
      {
        measurement: 'JSON.parse (1 core)',
        value: `${fmt(codec.json.parsePerSec)} rec/s`,
        detail: `${codec.json.parseMbPerSec} MB/s`,
      },
    );
  }
  if (steps.has('kafka')) {
    if (!kafkaHome) throw new Error('PF_KAFKA_HOME is not set: eval "$(bash scripts/stack.sh env)"');
    log(`kafka perf tools: ${fmt(size.perf)} records of ${valueBytes} B`);
    const perf = await measureKafkaPerfTools({
      brokers,
      kafkaHome,
      records: size.perf,
      recordSize: valueBytes,
      partitions: 3,
    });
    results.kafkaPerf = perf;
    rows.push(
      {
        measurement: 'Kafka ProducerPerformance acks=all',
        value: `${fmt(perf.produce.recordsPerSec)} rec/s`,
        detail: `${perf.produce.mbPerSec} MB/s, p99 ${perf.produce.p99LatencyMs} ms (saturated)`,
      },
      {
        measurement: 'Kafka ConsumerPerformance',
        value: `${fmt(perf.consume.recordsPerSec)} rec/s`,
        detail: `${perf.consume.mbPerSec} MB/s; fetching ${fmt(perf.consume.fetchRecordsPerSec)} rec/s`,
      },
    );
  }
  if (steps.has('floor')) {
    if (!kafkaHome) throw new Error('PF_KAFKA_HOME is not set: eval "$(bash scripts/stack.sh env)"');
    log(`kafka EndToEndLatency: ${fmt(size.floor)} messages of ${valueBytes} B, one at a time`);
    const floor = await measureEndToEndLatency({
      brokers,
      kafkaHome,
      messages: size.floor,
      messageBytes: valueBytes,
      partitions: 3,
    });
    results.kafkaFloor = floor;
    rows.push({
      measurement: 'Kafka EndToEndLatency acks=all (floor)',
      value: `p50 ${floor.p50Ms} ms`,
      detail: `p99 ${floor.p99Ms} / p99.9 ${floor.p999Ms} / avg ${floor.avgMs} ms over ${fmt(floor.messages)} messages`,
    });
  }
  if (steps.has('single')) {
    log(`single relay: ${fmt(size.chain)} records`);
    const single = await measureSingleRelay({ brokers, records: size.chain, valueBytes });
    results.singleRelay = single;
    const relay = single.perRelay[0]!;
    rows.push(
      {
        measurement: 'kafkajs producer (loader, prefill)',
        value: `${fmt(single.load.recordsPerSec)} rec/s`,
        detail: `${single.load.mbPerSec} MB/s, batches of 1000, 4 in flight`,
      },
      {
        measurement: 'kafkajs relay x1 (process)',
        value: `${fmt(single.endToEnd.recordsPerSec)} rec/s`,
        detail: `mean batch ${relay.meanBatchSize}, ${relay.cpuSeconds} CPU s for ${fmt(relay.records)} records`,
      },
    );
  }
  if (steps.has('chain')) {
    log(`passthrough chain of 4: ${fmt(size.chain)} records`);
    const chain = await measurePassthroughChain({ brokers, records: size.chain, valueBytes, relays: 4 });
    results.passthroughChain = chain;
    rows.push({
      measurement: 'kafkajs chain of 4 relays (processes)',
      value: `${fmt(chain.endToEnd.recordsPerSec)} rec/s`,
      detail: `end to end, ${chain.endToEnd.mbPerSec} MB/s; per relay ${chain.perRelay.map((relay) => fmt(relay.recordsPerSec)).join(' / ')}`,
    });
  }
  if (steps.has('latency')) {
    log(`latency through 4 relays at ${fmt(size.rate)} rec/s for ${size.seconds} s`);
    const latency = await measurePassthroughLatency({
      brokers,
      ratePerSec: size.rate,
      durationSec: size.seconds,
      valueBytes,
      relays: 4,
    });
    results.passthroughLatency = latency;
    rows.push({
      measurement: `latency, 4 relays @ ${fmt(size.rate)} rec/s`,
      value: `p50 ${latency.latencyMs.p50} ms`,
      detail: `p95 ${latency.latencyMs.p95} / p99 ${latency.latencyMs.p99} / max ${latency.latencyMs.max} ms over ${fmt(latency.measuredRecords)} records`,
    });
  }

  results.loadAverageAtEnd = loadavg().map((load) => round2(load));
  rows.push({
    measurement: 'load average (1 min) start / end',
    value: `${(results.loadAverageAtStart as number[])[0]} / ${(results.loadAverageAtEnd as number[])[0]}`,
    detail: `on ${availableCores()} cores`,
  });
  if (asJson) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const widths = [
    Math.max(11, ...rows.map((row) => row.measurement.length)),
    Math.max(5, ...rows.map((row) => row.value.length)),
  ] as const;
  const line = (a: string, b: string, c: string) => `${a.padEnd(widths[0])}  ${b.padStart(widths[1])}  ${c}`;
  process.stdout.write(`${line('measurement', 'value', 'detail')}\n`);
  process.stdout.write(`${line('-'.repeat(widths[0]), '-'.repeat(widths[1]), '------')}\n`);
  for (const row of rows) process.stdout.write(`${line(row.measurement, row.value, row.detail)}\n`);
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

main().catch((error: unknown) => {
  process.stderr.write(
    `limits: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
