/**
 * The ceiling of a kafkajs pipeline on this broker: chains of relays that do no work
 * (relay.ts) over topics of the same partition count, measured three ways:
 *   measurePassthroughChain   records/s reaching the last topic through N relays in series
 *   measureSingleRelay        the same with one relay: the per-stage ceiling
 *   measurePassthroughLatency p50/p95/p99 from the produce timestamp to the arrival at the
 *                             final consumer, at a fixed offered rate below saturation
 *
 * Relays run as child processes by default. The pipeline is four Node processes the OS
 * spreads over the cores (beside the broker); four relays inside one process would share
 * one event loop, and the chain would measure a quarter of one thread instead. The
 * 'in-process' isolation exists to see that difference, not as the reference number.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import type { Consumer, IHeaders, Kafka, Message, Producer } from 'kafkajs';
import {
  createBenchKafka,
  createTopics,
  deleteTopics,
  percentile,
  round,
  uniqueName,
} from './kafka-admin.ts';
import { type RelayOptions, type RelayStats, startRelay } from './relay.ts';

export type RelayIsolation = 'process' | 'in-process';

export interface PassthroughChainOptions {
  brokers: readonly string[];
  records: number;
  valueBytes: number;
  relays?: number;
  partitions?: number;
  /**
   * 'prefill': the first topic is filled before the relays start, so the chain runs
   * flat out from a backlog. 'saturate': the loader produces as fast as it can while
   * the chain runs (the loader then competes for the same cores).
   */
  mode?: 'prefill' | 'saturate';
  isolation?: RelayIsolation;
  timeoutMs?: number;
}

export interface RelayResult {
  relay: number;
  from: string;
  to: string;
  records: number;
  batches: number;
  recordsPerSec: number;
  meanBatchSize: number;
  /** CPU seconds of the relay's process; null when relays share the bench process. */
  cpuSeconds: number | null;
}

export interface PassthroughChainResult {
  mode: 'prefill' | 'saturate';
  isolation: RelayIsolation;
  relays: number;
  partitions: number;
  records: number;
  valueBytes: number;
  /** The loader filling the first topic (idempotent, acks=-1, batches of 1000). */
  load: { recordsPerSec: number; mbPerSec: number; seconds: number };
  /** Records/s arriving at the last topic, from the first relay's first batch (prefill) or the first produce (saturate). */
  endToEnd: { recordsPerSec: number; mbPerSec: number; seconds: number };
  perRelay: RelayResult[];
  units: { recordsPerSec: 'records/s'; mbPerSec: 'MB/s (10^6 bytes of values)'; seconds: 's' };
}

export interface PassthroughLatencyOptions {
  brokers: readonly string[];
  /** Offered rate, records/s, spread over 10 ms ticks. */
  ratePerSec: number;
  durationSec: number;
  valueBytes: number;
  relays?: number;
  partitions?: number;
  /** Records produced in the first seconds are relayed but not counted. */
  warmupSec?: number;
  isolation?: RelayIsolation;
  timeoutMs?: number;
}

export interface PassthroughLatencyResult {
  relays: number;
  partitions: number;
  isolation: RelayIsolation;
  valueBytes: number;
  offeredRatePerSec: number;
  achievedRatePerSec: number;
  measuredRecords: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
  units: { rate: 'records/s'; latencyMs: 'ms' };
}

const LOAD_BATCH = 1000;
const LOAD_IN_FLIGHT = 4;

export async function measurePassthroughChain(
  options: PassthroughChainOptions,
): Promise<PassthroughChainResult> {
  const relays = options.relays ?? 4;
  const partitions = options.partitions ?? 3;
  const mode = options.mode ?? 'prefill';
  const isolation = options.isolation ?? 'process';
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
  const kafka = createBenchKafka(options.brokers, 'pf-bench-passthrough');
  const run = uniqueName('chain');
  const topics = Array.from({ length: relays + 1 }, (_, index) => `${run}.t${index}`);
  const payload = makePayload(options.valueBytes);

  await createTopics(kafka, topics, partitions);
  const running: RunningRelay[] = [];
  let counter: ArrivalCounter | undefined;
  try {
    let load: PassthroughChainResult['load'] | undefined;
    if (mode === 'prefill') load = await produceAll(kafka, topics[0]!, options.records, payload);

    counter = await startArrivalCounter(kafka, topics[relays]!, `${run}-final`, () => {});
    for (let index = 0; index < relays; index++) {
      running.push(
        await launchRelay(isolation, {
          brokers: options.brokers,
          from: topics[index]!,
          to: topics[index + 1]!,
          groupId: `${run}-relay-${index + 1}`,
          partitionsConsumedConcurrently: partitions,
        }),
      );
    }
    await Promise.all(running.map((relay) => relay.joined));

    const loadStartedAt = Date.now();
    if (mode === 'saturate') load = await produceAll(kafka, topics[0]!, options.records, payload);
    await counter.waitFor(options.records, deadline);
    const lastArrivalAt = counter.lastArrivalAt();

    const stats: RelayStats[] = [];
    // stop() is memoised, so the finally below only waits for these same stops.
    for (const relay of running) stats.push(await relay.stop());
    const startedAt = mode === 'prefill' ? stats[0]!.firstBatchAt : loadStartedAt;
    const seconds = (lastArrivalAt - startedAt) / 1000;
    return {
      mode,
      isolation,
      relays,
      partitions,
      records: options.records,
      valueBytes: options.valueBytes,
      load: load!,
      endToEnd: {
        recordsPerSec: round(options.records / seconds),
        mbPerSec: round((options.records * options.valueBytes) / seconds / 1e6, 2),
        seconds: round(seconds, 3),
      },
      perRelay: stats.map((stat, index) => {
        const relaySeconds = Math.max(0.001, (stat.lastAckAt - stat.firstBatchAt) / 1000);
        return {
          relay: index + 1,
          from: topics[index]!,
          to: topics[index + 1]!,
          records: stat.records,
          batches: stat.batches,
          recordsPerSec: round(stat.records / relaySeconds),
          meanBatchSize: round(stat.records / Math.max(1, stat.batches)),
          cpuSeconds: isolation === 'process' ? round(stat.cpuSeconds, 2) : null,
        };
      }),
      units: { recordsPerSec: 'records/s', mbPerSec: 'MB/s (10^6 bytes of values)', seconds: 's' },
    };
  } finally {
    await Promise.allSettled(running.map((relay) => relay.stop()));
    await counter?.stop();
    await deleteTopics(kafka, topics);
  }
}

/** One relay between two topics: the ceiling of a single stage that does no work. */
export function measureSingleRelay(
  options: Omit<PassthroughChainOptions, 'relays'>,
): Promise<PassthroughChainResult> {
  return measurePassthroughChain({ ...options, relays: 1 });
}

export async function measurePassthroughLatency(
  options: PassthroughLatencyOptions,
): Promise<PassthroughLatencyResult> {
  const relays = options.relays ?? 4;
  const partitions = options.partitions ?? 3;
  const isolation = options.isolation ?? 'process';
  const warmupMs = (options.warmupSec ?? 2) * 1000;
  const durationMs = options.durationSec * 1000;
  const kafka = createBenchKafka(options.brokers, 'pf-bench-latency');
  const run = uniqueName('latency');
  const topics = Array.from({ length: relays + 1 }, (_, index) => `${run}.t${index}`);
  const payload = makePayload(options.valueBytes);
  const latencies: number[] = [];
  let measureFrom = Number.POSITIVE_INFINITY;

  await createTopics(kafka, topics, partitions);
  const running: RunningRelay[] = [];
  let counter: ArrivalCounter | undefined;
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
  });
  try {
    counter = await startArrivalCounter(kafka, topics[relays]!, `${run}-final`, (producedAt, arrivedAt) => {
      if (producedAt >= measureFrom) latencies.push(arrivedAt - producedAt);
    });
    for (let index = 0; index < relays; index++) {
      running.push(
        await launchRelay(isolation, {
          brokers: options.brokers,
          from: topics[index]!,
          to: topics[index + 1]!,
          groupId: `${run}-relay-${index + 1}`,
          partitionsConsumedConcurrently: partitions,
        }),
      );
    }
    await Promise.all(running.map((relay) => relay.joined));
    await producer.connect();

    // Offered load: at each 10 ms tick, send what the rate says is due by now, without
    // waiting for the previous send; a saturated chain shows up as latency, not as a
    // slower loader.
    const startedAt = Date.now();
    measureFrom = startedAt + warmupMs;
    const endAt = measureFrom + durationMs;
    const sends: Promise<unknown>[] = [];
    let produced = 0;
    let measuredProduced = 0;
    while (Date.now() < endAt) {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * options.ratePerSec);
      if (due > produced) {
        const now = Date.now();
        const messages = makeMessages(produced, due - produced, payload, now);
        if (now >= measureFrom) measuredProduced += messages.length;
        produced = due;
        sends.push(producer.send({ topic: topics[0]!, messages, acks: -1 }));
      }
      await sleep(10);
    }
    await Promise.all(sends);
    await counter.waitFor(produced, Date.now() + (options.timeoutMs ?? 120_000));
    latencies.sort((a, b) => a - b);
    const mean = latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length);
    return {
      relays,
      partitions,
      isolation,
      valueBytes: options.valueBytes,
      offeredRatePerSec: options.ratePerSec,
      achievedRatePerSec: round(measuredProduced / (durationMs / 1000)),
      measuredRecords: latencies.length,
      latencyMs: {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
        max: latencies[latencies.length - 1] ?? Number.NaN,
        mean: round(mean, 2),
      },
      units: { rate: 'records/s', latencyMs: 'ms' },
    };
  } finally {
    await producer.disconnect().catch(() => {});
    await Promise.allSettled(running.map((relay) => relay.stop()));
    await counter?.stop();
    await deleteTopics(kafka, topics);
  }
}

// ------------------------------------------------------------------ load and arrival

interface Payload {
  value: Buffer;
}

/** Incompressible bytes of the requested size; the same buffer for every record. */
function makePayload(valueBytes: number): Payload {
  return { value: randomBytes(valueBytes) };
}

function makeMessages(first: number, count: number, payload: Payload, timestamp: number): Message[] {
  const messages: Message[] = new Array(count);
  const stamp = String(timestamp);
  for (let index = 0; index < count; index++) {
    const sequence = first + index;
    // A key and a traceparent header like the pipeline's records carry.
    const headers: IHeaders = {
      traceparent: `00-${sequence.toString(16).padStart(32, '0')}-${'0'.repeat(15)}1-01`,
    };
    messages[index] = {
      key: `bench-${sequence.toString().padStart(12, '0')}`,
      value: payload.value,
      headers,
      timestamp: stamp,
    };
  }
  return messages;
}

async function produceAll(
  kafka: Kafka,
  topic: string,
  records: number,
  payload: Payload,
): Promise<PassthroughChainResult['load']> {
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    const startedAt = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < records) {
        const first = next;
        const count = Math.min(LOAD_BATCH, records - first);
        next += count;
        await producer.send({ topic, messages: makeMessages(first, count, payload, Date.now()), acks: -1 });
      }
    };
    await Promise.all(Array.from({ length: LOAD_IN_FLIGHT }, worker));
    const seconds = (Date.now() - startedAt) / 1000;
    return {
      recordsPerSec: round(records / seconds),
      mbPerSec: round((records * payload.value.length) / seconds / 1e6, 2),
      seconds: round(seconds, 3),
    };
  } finally {
    await producer.disconnect();
  }
}

interface ArrivalCounter {
  waitFor(count: number, deadline: number): Promise<void>;
  lastArrivalAt(): number;
  stop(): Promise<void>;
}

/** The final consumer: counts records reaching the last topic and reports each arrival. */
async function startArrivalCounter(
  kafka: Kafka,
  topic: string,
  groupId: string,
  onArrival: (producedAt: number, arrivedAt: number) => void,
): Promise<ArrivalCounter> {
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50, sessionTimeout: 30000 });
  let arrived = 0;
  let lastArrival = 0;
  let joined: () => void = () => {};
  const hasJoined = new Promise<void>((resolve) => {
    joined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const message of batch.messages) onArrival(Number(message.timestamp), now);
      arrived += batch.messages.length;
      lastArrival = now;
    },
  });
  await hasJoined;
  return {
    async waitFor(count, deadline) {
      while (arrived < count) {
        if (Date.now() > deadline) {
          throw new PipelineError(
            ErrorCodes.KAFKA,
            `only ${arrived} of ${count} records reached ${topic} before the deadline`,
            { details: { topic, arrived, expected: count } },
          );
        }
        await sleep(20);
      }
    },
    lastArrivalAt: () => lastArrival,
    stop: () => consumer.disconnect(),
  };
}

// ------------------------------------------------------------------ relay isolation

interface RunningRelay {
  readonly joined: Promise<void>;
  stop(): Promise<RelayStats>;
}

const WORKER = fileURLToPath(new URL('./relay-worker.ts', import.meta.url));

async function launchRelay(isolation: RelayIsolation, options: RelayOptions): Promise<RunningRelay> {
  if (isolation === 'in-process') {
    const relay = await startRelay(options);
    let stopped: Promise<RelayStats> | undefined;
    return {
      joined: relay.joined,
      stop: () => {
        stopped ??= relay.stop();
        return stopped;
      },
    };
  }
  return forkRelay(options);
}

function forkRelay(options: RelayOptions): RunningRelay {
  const child: ChildProcess = fork(WORKER, [], {
    // Not the parent's flags (--test, --cpu-prof …): the relay runs as a plain process.
    execArgv: [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let failure: Error | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const joined = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { type: string; message?: string }) => {
      if (message.type === 'joined') resolve();
      if (message.type === 'failed') {
        failure = new PipelineError(
          ErrorCodes.KAFKA,
          `relay ${options.from} → ${options.to} failed: ${message.message}`,
        );
        reject(failure);
      }
    });
    exited.then((code) => {
      reject(
        failure ??
          new PipelineError(
            ErrorCodes.KAFKA,
            `relay ${options.from} exited with code ${code} before joining`,
          ),
      );
    });
  });
  // A relay that fails later is reported by stop(); keep the rejection from going unhandled.
  joined.catch(() => {});
  child.send({ type: 'start', options });

  let stopped: Promise<RelayStats> | undefined;
  const stop = (): Promise<RelayStats> => {
    stopped ??= new Promise<RelayStats>((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) {
        reject(failure ?? new PipelineError(ErrorCodes.KAFKA, `relay ${options.from} is not running`));
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('message', (message: { type: string; stats?: RelayStats }) => {
        if (message.type === 'stopped' && message.stats) resolve(message.stats);
      });
      exited.then(() => {
        clearTimeout(timer);
        reject(
          failure ?? new PipelineError(ErrorCodes.KAFKA, `relay ${options.from} exited without its stats`),
        );
      });
      child.send({ type: 'stop' });
    });
    return stopped;
  };
  return { joined, stop };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
