/**
 * The pipeline measurements: the four real services (tools/harness startServices) on the
 * local stack, each run in its own topic namespace, PostgreSQL schema and cold directory.
 *
 *   measureSaturation  pre-filled ingest topics, all four services, sink rows/s between the
 *                      warm-up mark and the end (pf_sink_rows_total{result="inserted"})
 *   measureStagesAlone each service alone against a pre-filled input topic, in pipeline
 *                      order, so that each stage's output is the next stage's input
 *   measureLatency     ingest → durable (the sink's COMMIT, seen through LISTEN/NOTIFY)
 *                      latency percentiles at fixed offered loads, overall and per lane;
 *                      then the overload scenario (more than saturation, then the drain)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LoadResult,
  metricSum,
  produceGeneratedEvents,
  reservePorts,
  SERVICE_NAMES,
  type ServiceFleet,
  type ServiceName,
  startServices,
} from '@patternflow/harness';
import { createKafka } from '@patternflow/kafka';
import { createLogger } from '@patternflow/observability';
import { type TopicNames, topicNames } from '@patternflow/records';
import { sourceNames } from '@patternflow/sources';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { type CommitProbe, startCommitProbe } from './commit-probe.ts';
import {
  type Distribution,
  type DurableLatency,
  durableLatency,
  type LaneLatency,
  type LatencyRow,
  type Quantiles,
} from './latency-stats.ts';
import { cpuDelta, cpuSnapshot, kafkaBrokerPid, PeakRssTracker, ROOT, round } from './system.ts';

export interface StackEndpoints {
  brokers: string[];
  registryUrl: string;
  pgUrl: string;
}

/** Share of the generated events sent as Confluent-framed Avro; the rest is JSON. */
export const AVRO_SHARE = 0.4;
const PARTITIONS = 3;
/** The lanes of policies/routing.yaml. */
const LANES = ['critical', 'standard', 'bulk'] as const;
const POLL_MS = 500;
const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One isolated pipeline: a topic namespace, a PostgreSQL schema and a cold directory of its
 * own. cleanup() stops its services and deletes its topics, consumer groups, registry
 * subjects, schema and directory.
 */
export class PipelineRun {
  readonly stack: StackEndpoints;
  readonly namespace: string;
  readonly schema: string;
  readonly coldDir: string;
  readonly logDir: string;
  readonly topics: TopicNames;
  readonly kafka: Kafka;
  readonly pool: pg.Pool;
  readonly #fleets: ServiceFleet[] = [];

  constructor(stack: StackEndpoints, label: string, runId: string) {
    this.stack = stack;
    this.namespace = `bench${runId}${label}`;
    this.schema = this.namespace;
    this.topics = topicNames(this.namespace);
    this.coldDir = mkdtempSync(join(tmpdir(), `${this.namespace}-cold-`));
    this.logDir = join(ROOT, '.stack', 'logs', this.namespace);
    mkdirSync(this.logDir, { recursive: true });
    this.kafka = createKafka({
      brokers: stack.brokers,
      clientId: this.namespace,
      logger: createLogger({ service: 'bench', level: 'error' }),
      clientLogLevel: 'error',
    });
    this.pool = new pg.Pool({ connectionString: stack.pgUrl, max: 2 });
  }

  /**
   * Every topic of the pipeline (the ingest topics of the three sources, normalized and
   * tagged with their expedited siblings, the lanes of policies/routing.yaml, the DLQ),
   * created up front: the ingest topics so that they can be pre-filled, all of them so that
   * four services starting at once do not race to create the same topics (see
   * docs/performance.md).
   */
  async createTopics(): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const topics = [
        ...sourceNames().map((source) => this.topics.ingest(source)),
        this.topics.normalizedPriority,
        this.topics.normalized,
        this.topics.taggedPriority,
        this.topics.tagged,
        ...LANES.map((lane) => this.topics.routed(lane)),
        this.topics.dlq,
      ].filter((topic) => !existing.has(topic));
      if (topics.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: topics.map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1 })),
        });
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Generated events of the three sources, JSON and Avro, as fast as the loader goes. */
  async prefill(count: number, seed: number): Promise<LoadResult> {
    await this.createTopics();
    const result = await produceGeneratedEvents({
      kafka: this.kafka,
      registryUrl: this.stack.registryUrl,
      topics: this.topics,
      seed,
      count,
      avroShare: AVRO_SHARE,
      sendBatch: 1000,
    });
    log(
      `${this.namespace}: pre-filled ${result.sent} events (${result.avro} Avro, ${result.json} JSON) in ${(result.elapsedMs / 1000).toFixed(1)} s`,
    );
    return result;
  }

  async startFleet(options: {
    only?: readonly ServiceName[];
    env?: Record<string, string>;
    perService?: Partial<Record<ServiceName, Record<string, string>>>;
  }): Promise<ServiceFleet> {
    const fleet = startServices({
      logDir: this.logDir,
      basePort: await reservePorts(SERVICE_NAMES.length),
      env: {
        PF_KAFKA_BROKERS: this.stack.brokers.join(','),
        PF_REGISTRY_URL: this.stack.registryUrl,
        PF_PG_URL: this.stack.pgUrl,
        PF_PG_SCHEMA: this.schema,
        PF_COLD_DIR: this.coldDir,
        PF_TOPIC_NAMESPACE: this.namespace,
        ...options.env,
      },
      ...(options.only ? { only: options.only } : {}),
      ...(options.perService ? { perService: options.perService } : {}),
    });
    this.#fleets.push(fleet);
    return fleet;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#fleets.map((fleet) => fleet.stop()));
    const prefix = `${this.namespace}.`;
    const admin = this.kafka.admin();
    try {
      await admin.connect();
      const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
      const groups = (await admin.listGroups()).groups
        .map((group) => group.groupId)
        .filter((group) => group.startsWith(prefix));
      if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
    } catch (error) {
      log(`cleanup of ${this.namespace} topics: ${(error as Error).message}`);
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await this.#deleteSubjects(prefix).catch((error: Error) =>
      log(`cleanup of ${this.namespace} subjects: ${error.message}`),
    );
    await this.pool
      .query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`)
      .catch((error: Error) => log(`cleanup of schema ${this.schema}: ${error.message}`));
    await this.pool.end().catch(() => {});
    rmSync(this.coldDir, { recursive: true, force: true });
  }

  /** The registry subjects the ingestor registered for this namespace's topics. */
  async #deleteSubjects(prefix: string): Promise<void> {
    const base = this.stack.registryUrl.replace(/\/$/, '');
    const response = await fetch(`${base}/subjects`);
    if (!response.ok) throw new Error(`GET /subjects: HTTP ${response.status}`);
    const subjects = ((await response.json()) as string[]).filter((subject) => subject.startsWith(prefix));
    for (const subject of subjects) {
      const path = `${base}/subjects/${encodeURIComponent(subject)}`;
      await fetch(path, { method: 'DELETE' });
      await fetch(`${path}?permanent=true`, { method: 'DELETE' });
    }
  }
}

async function metricsOf(fleet: ServiceFleet, name: ServiceName): Promise<string> {
  return fleet.metrics(name).catch(() => '');
}

const sinkInserted = (text: string) => metricSum(text, 'pf_sink_rows_total', 'result="inserted"');
/** Records a stage has finished with: every output (DLQ included) acknowledged, or rows written by the sink. */
const processedRecords = (stage: string, text: string) =>
  stage === 'sink'
    ? metricSum(text, 'pf_sink_rows_total') + metricSum(text, 'pf_dlq_records_total')
    : metricSum(text, 'pf_records_out_total');

function servicePids(fleet: ServiceFleet, withBroker: boolean): Map<string, number> {
  const pids = new Map<string, number>();
  for (const [name, service] of fleet.processes) {
    if (service.child.pid !== undefined && service.child.exitCode === null) pids.set(name, service.child.pid);
  }
  const broker = withBroker ? kafkaBrokerPid() : undefined;
  if (broker !== undefined) pids.set('kafka-broker', broker);
  return pids;
}

function assertAlive(fleet: ServiceFleet, logDir: string): void {
  for (const service of fleet.processes.values()) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(
        `${service.name} exited (${service.child.exitCode ?? service.child.signalCode}); see ${logDir}/${service.name}.log`,
      );
    }
  }
}

export interface BatchStats {
  batches: number;
  meanBatchRecords: number;
  /** pf_processing_seconds: handing the batch to the handler → output acknowledged. */
  meanBatchMs: number;
}

type BatchCounters = Record<string, { seconds: number; batches: number; records: number }>;

async function batchCounters(fleet: ServiceFleet): Promise<BatchCounters> {
  const counters: BatchCounters = {};
  for (const name of fleet.processes.keys()) {
    const text = await metricsOf(fleet, name);
    counters[name] = {
      seconds: metricSum(text, 'pf_processing_seconds_sum'),
      batches: metricSum(text, 'pf_processing_seconds_count'),
      records: metricSum(text, 'pf_batch_size_sum'),
    };
  }
  return counters;
}

function batchStats(before: BatchCounters, after: BatchCounters): Record<string, BatchStats> {
  const stats: Record<string, BatchStats> = {};
  for (const [name, end] of Object.entries(after)) {
    const start = before[name] ?? { seconds: 0, batches: 0, records: 0 };
    const batches = end.batches - start.batches;
    stats[name] = {
      batches,
      meanBatchRecords: round((end.records - start.records) / Math.max(1, batches), 1),
      meanBatchMs: round(((end.seconds - start.seconds) * 1000) / Math.max(1, batches), 1),
    };
  }
  return stats;
}

// ------------------------------------------------------------------ saturation

export interface SaturationResult {
  prefilled: number;
  prefill: { seconds: number; recordsPerSec: number; avro: number; json: number };
  warmupSec: number;
  measuredSec: number;
  /** Sink rows inserted between the warm-up mark and the end. */
  measuredRecords: number;
  recordsPerSec: number;
  /** True when the pre-filled input ran out before the planned end. */
  inputExhausted: boolean;
  /** Each stage's output rate over the same window (the sink: rows inserted). */
  stageRecordsPerSec: Record<string, number>;
  /** Batches each stage processed in the window, their mean size and handling time. */
  batches: Record<string, BatchStats>;
  cpuSeconds: Record<string, number>;
  recordsPerCpuSecond: { servicesAndBroker: number | null; servicesOnly: number };
  peakRssMiB: Record<string, number>;
  rowsInPostgres: number;
  dlqRecords: number;
  timeline: { t: number; sinkRows: number }[];
}

/**
 * All four services against pre-filled ingest topics: the sink's rows/s between the
 * warm-up mark (first row + warmupSec) and warmupSec + measureSec later, or until the
 * input is exhausted. CPU of the four services and the broker over the same window.
 */
export async function measureSaturation(
  run: PipelineRun,
  options: {
    count: number;
    warmupSec: number;
    measureSec: number;
    seed: number;
    env?: Record<string, string>;
    perService?: Partial<Record<ServiceName, Record<string, string>>>;
  },
): Promise<SaturationResult> {
  const load = await run.prefill(options.count, options.seed);
  const fleet = await run.startFleet({
    ...(options.env ? { env: options.env } : {}),
    ...(options.perService ? { perService: options.perService } : {}),
  });
  const rss = new PeakRssTracker(() => servicePids(fleet, false)).start();
  try {
    await fleet.waitReady();
    log(`${run.namespace}: four services ready; waiting for the first rows`);
    const startedAt = Date.now();
    const timeline: { t: number; sinkRows: number }[] = [];
    const stageOut = async () => {
      const out: Record<string, number> = {};
      for (const name of SERVICE_NAMES) {
        const text = await metricsOf(fleet, name);
        out[name] = name === 'sink' ? sinkInserted(text) : metricSum(text, 'pf_records_out_total');
      }
      return out;
    };
    let firstRowAt: number | undefined;
    let mark:
      | {
          at: number;
          rows: number;
          cpu: Map<string, number>;
          out: Record<string, number>;
          batches: BatchCounters;
        }
      | undefined;
    let rows = 0;
    let lastProgressAt = Date.now();
    for (;;) {
      await sleep(POLL_MS);
      assertAlive(fleet, run.logDir);
      const now = Date.now();
      const current = sinkInserted(await metricsOf(fleet, 'sink'));
      if (current > rows) lastProgressAt = now;
      rows = current;
      timeline.push({ t: round((now - startedAt) / 1000, 1), sinkRows: rows });
      if (firstRowAt === undefined && rows > 0) firstRowAt = now;
      if (firstRowAt !== undefined && !mark && now >= firstRowAt + options.warmupSec * 1000) {
        mark = {
          at: now,
          rows,
          cpu: cpuSnapshot(servicePids(fleet, true)),
          out: await stageOut(),
          batches: await batchCounters(fleet),
        };
        log(`${run.namespace}: warm-up done at ${rows} rows; measuring ${options.measureSec} s`);
      }
      const exhausted = rows >= load.sent;
      if (mark && (exhausted || now >= mark.at + options.measureSec * 1000)) {
        const cpuEnd = cpuSnapshot(servicePids(fleet, true));
        const outEnd = await stageOut();
        const batches = batchStats(mark.batches, await batchCounters(fleet));
        const seconds = (now - mark.at) / 1000;
        const measuredRecords = rows - mark.rows;
        const cpuSeconds = cpuDelta(mark.cpu, cpuEnd);
        const servicesCpu = SERVICE_NAMES.reduce((sum, name) => sum + (cpuSeconds[name] ?? 0), 0);
        const brokerCpu = cpuSeconds['kafka-broker'];
        const stageRecordsPerSec: Record<string, number> = {};
        for (const name of SERVICE_NAMES) {
          stageRecordsPerSec[name] = round(((outEnd[name] ?? 0) - (mark.out[name] ?? 0)) / seconds);
        }
        const peakRssMiB = rss.stop();
        const dlqRecords = metricSum(await metricsOf(fleet, 'ingestor'), 'pf_dlq_records_total');
        await fleet.stop();
        const { rows: counted } = await run.pool.query(
          `SELECT count(*)::int AS n FROM ${run.schema}.patterns`,
        );
        return {
          prefilled: load.sent,
          prefill: {
            seconds: round(load.elapsedMs / 1000, 1),
            recordsPerSec: round(load.sent / (load.elapsedMs / 1000)),
            avro: load.avro,
            json: load.json,
          },
          warmupSec: options.warmupSec,
          measuredSec: round(seconds, 1),
          measuredRecords,
          recordsPerSec: round(measuredRecords / seconds),
          inputExhausted: exhausted && seconds < options.measureSec - 1,
          stageRecordsPerSec,
          batches,
          cpuSeconds,
          recordsPerCpuSecond: {
            servicesAndBroker:
              brokerCpu === undefined ? null : round(measuredRecords / (servicesCpu + brokerCpu), 1),
            servicesOnly: round(measuredRecords / servicesCpu, 1),
          },
          peakRssMiB,
          rowsInPostgres: counted[0].n,
          dlqRecords,
          timeline,
        };
      }
      if (now - lastProgressAt > 90_000) {
        throw new Error(`${run.namespace}: no sink progress for 90 s at ${rows} rows; see ${run.logDir}`);
      }
    }
  } finally {
    rss.stop();
    await fleet.stop();
  }
}

// ------------------------------------------------------------------ stages alone

export interface StageAloneResult {
  stage: ServiceName;
  inputRecords: number;
  /** Records consumed per second between the warm-up mark and the end of the input. */
  recordsPerSec: number;
  measuredSec: number;
  cpuSeconds: number;
  recordsPerCpuSecond: number;
  peakRssMiB: number;
  outputRecords: number;
  dlqRecords: number;
  /** True when the stage stalled before consuming its whole input. */
  incomplete: boolean;
}

/**
 * Each service alone against a pre-filled input, in pipeline order: the ingestor reads the
 * pre-filled ingest topics, the tagger reads what the ingestor wrote, and so on; the sink
 * writes into this run's fresh schema, so every row is a real insert. Each stage uses
 * this run's (fresh) consumer group and PF_PAUSE_WHEN_BACKLOG_ABOVE=0.
 */
export async function measureStagesAlone(
  run: PipelineRun,
  options: { count: number; warmupSec: number; seed: number },
): Promise<{ prefill: { seconds: number; recordsPerSec: number }; stages: StageAloneResult[] }> {
  const load = await run.prefill(options.count, options.seed);
  const stages: StageAloneResult[] = [];
  let expected = load.sent;
  for (const stage of SERVICE_NAMES) {
    const fleet = await run.startFleet({ only: [stage], env: { PF_PAUSE_WHEN_BACKLOG_ABOVE: '0' } });
    const rss = new PeakRssTracker(() => servicePids(fleet, false)).start(500);
    try {
      await fleet.waitReady(stage);
      let firstAt: number | undefined;
      // From readiness until the warm-up mark: on a quiet machine a stage can finish the
      // whole input before the first sample, and the window must still be a real one.
      let mark: { at: number; count: number; cpu: Map<string, number> } = {
        at: Date.now(),
        count: 0,
        cpu: cpuSnapshot(servicePids(fleet, false)),
      };
      let count = 0;
      let lastProgressAt = Date.now();
      let incomplete = false;
      for (;;) {
        await sleep(250);
        assertAlive(fleet, run.logDir);
        const now = Date.now();
        // Records done (output acknowledged), not records fetched: the input counter jumps
        // by whole fetches, so on a quiet machine it can read "all in" at the first sample
        // and leave no window to measure.
        const current = processedRecords(stage, await metricsOf(fleet, stage));
        if (current > count) lastProgressAt = now;
        count = current;
        if (firstAt === undefined && count > 0) firstAt = now;
        if (count >= expected) break;
        if (firstAt !== undefined && mark.count === 0 && now >= firstAt + options.warmupSec * 1000) {
          mark = { at: now, count, cpu: cpuSnapshot(servicePids(fleet, false)) };
        }
        if (firstAt !== undefined && now - lastProgressAt > 20_000) {
          incomplete = true;
          break;
        }
        if (firstAt === undefined && now - lastProgressAt > 120_000) {
          throw new Error(`${stage} alone consumed nothing in 120 s; see ${run.logDir}/${stage}.log`);
        }
      }
      const end = {
        at: incomplete ? lastProgressAt : Date.now(),
        cpu: cpuSnapshot(servicePids(fleet, false)),
      };
      const text = await metricsOf(fleet, stage);
      const outputRecords = stage === 'sink' ? sinkInserted(text) : metricSum(text, 'pf_records_out_total');
      const dlqRecords = metricSum(text, 'pf_dlq_records_total');
      const seconds = (end.at - mark.at) / 1000;
      const cpuSeconds = cpuDelta(mark.cpu, end.cpu)[stage] ?? 0;
      const consumed = count - mark.count;
      stages.push({
        stage,
        inputRecords: expected,
        recordsPerSec: round(consumed / seconds),
        measuredSec: round(seconds, 1),
        cpuSeconds: round(cpuSeconds, 2),
        recordsPerCpuSecond: round(consumed / Math.max(0.01, cpuSeconds)),
        peakRssMiB: rss.stop()[stage] ?? 0,
        outputRecords,
        dlqRecords,
        incomplete,
      });
      log(
        `${stage} alone: ${round(consumed / seconds)} records/s over ${seconds.toFixed(1)} s (${count} of ${expected} consumed)`,
      );
      expected = outputRecords;
    } finally {
      rss.stop();
      await fleet.stop();
    }
  }
  return {
    prefill: {
      seconds: round(load.elapsedMs / 1000, 1),
      recordsPerSec: round(load.sent / (load.elapsedMs / 1000)),
    },
    stages,
  };
}

// ------------------------------------------------------------------ latency

export interface LatencyResult {
  offeredRatePerSec: number;
  achievedRatePerSec: number;
  sent: number;
  measuredRecords: number;
  /** THE latency: ingest_time → the row's COMMIT as seen by a LISTENing client (commit-probe.ts). */
  latencyMs: Distribution;
  /** Durable latency of each lane's rows. */
  perLane: Record<string, LaneLatency>;
  /** The former figure, written_at − ingest_time (written_at = start of the sink's transaction). */
  writtenAtLatencyMs: Quantiles;
  /** Percentiles of each hop, from the stage timestamps stored with the row and the commit time. */
  hopsMs: DurableLatency['hopsMs'];
  /** Measured rows whose commit notification never arrived (0 expected). */
  rowsWithoutCommit: number;
  /** Over the whole run at this rate (warm-up included). */
  batches: Record<string, BatchStats>;
  peakRssMiB: Record<string, number>;
}

export interface OverloadResult {
  /** The target: overloadFactor × the measured saturation. */
  targetRatePerSec: number;
  /** What the generator reached: sent ÷ the time it took to send them. */
  achievedRatePerSec: number;
  plannedSec: number;
  /** How long offering took (longer than planned when the generator fell behind). */
  offeredSec: number;
  sent: number;
  rows: number;
  /** Sent ids without a row once the drain ended or timed out: 0 = nothing lost. */
  missing: number;
  drainTimedOut: boolean;
  /** From the end of the load (last send acknowledged) to the commit of the last row. */
  drainSec: number;
  /** Share of the rows routed to the critical lane. */
  criticalShare: number;
  /** Durable latency of every record sent during the overload. */
  latencyMs: Distribution;
  perLane: Record<string, LaneLatency>;
  rowsWithoutCommit: number;
  batches: Record<string, BatchStats>;
}

export interface LatencyOptions {
  rates: number[];
  warmupSec: number;
  durationSec: number;
  seed: number;
  /** After the fixed rates: offer ratePerSec for durationSec, then wait for the drain. */
  overload?: { ratePerSec: number; durationSec: number; drainTimeoutMs: number };
}

/**
 * All four services, already past their input (the run's consumer groups are at the end),
 * with the commit probe on the run's patterns table: for each rate, generated events
 * offered at that rate for warmupSec + durationSec, then the durable latency (commit seen −
 * ingest_time) of the rows of the events sent after the warm-up. Then, optionally, the
 * overload scenario on the same fleet.
 */
export async function measureLatency(
  run: PipelineRun,
  options: LatencyOptions,
): Promise<{ rates: LatencyResult[]; overload: OverloadResult | null }> {
  await run.createTopics();
  const fleet = await run.startFleet({});
  const rss = new PeakRssTracker(() => servicePids(fleet, false)).start();
  const results: LatencyResult[] = [];
  let overload: OverloadResult | null = null;
  let probe: CommitProbe | undefined;
  try {
    await fleet.waitReady();
    // The sink has migrated its table by now (readiness): the trigger can go on it.
    probe = await startCommitProbe({ pool: run.pool, pgUrl: run.stack.pgUrl, schema: run.schema });
    for (const [index, rate] of options.rates.entries()) {
      const ratePerSecond = Math.max(1, Math.round(rate));
      log(`${run.namespace}: latency at ${ratePerSecond} records/s offered`);
      const countersBefore = await batchCounters(fleet);
      const startedAt = Date.now();
      const load = await produceGeneratedEvents({
        kafka: run.kafka,
        registryUrl: run.stack.registryUrl,
        topics: run.topics,
        seed: options.seed + index,
        count: Math.round(ratePerSecond * (options.warmupSec + options.durationSec)),
        avroShare: AVRO_SHARE,
        ratePerSecond,
        // A send every 20 ms: a smooth offered load rather than bursts.
        sendBatch: Math.max(1, Math.round(ratePerSecond / 50)),
      });
      const measureFrom = startedAt + options.warmupSec * 1000;
      await waitForRows(run, load.ids, 120_000);
      assertAlive(fleet, run.logDir);
      const batches = batchStats(countersBefore, await batchCounters(fleet));
      const rows = await latencyRows(
        run,
        `id = ANY($1::text[]) AND ingest_time >= to_timestamp($2 / 1000.0)`,
        [load.ids, measureFrom],
      );
      const stats = durableLatency(rows, await commitTimesFor(probe, rows), LANES);
      results.push({
        offeredRatePerSec: ratePerSecond,
        achievedRatePerSec: round(load.sent / (load.elapsedMs / 1000)),
        sent: load.sent,
        measuredRecords: rows.length,
        latencyMs: stats.durable,
        perLane: stats.perLane,
        writtenAtLatencyMs: stats.writtenAt,
        hopsMs: stats.hopsMs,
        rowsWithoutCommit: stats.withoutCommit,
        batches,
        peakRssMiB: {},
      });
      log(
        `latency @ ${ratePerSecond}/s: durable p50 ${stats.durable.p50} p99 ${stats.durable.p99} ms over ${rows.length} rows (${stats.withoutCommit} without a commit)`,
      );
    }
    if (options.overload)
      overload = await measureOverload(run, fleet, probe, options.overload, options.seed + 100);
  } finally {
    const peaks = rss.stop();
    for (const result of results) result.peakRssMiB = peaks;
    await probe?.stop();
    await fleet.stop();
  }
  return { rates: results, overload };
}

/**
 * More than the pipeline can take, for a while, then nothing: what it does with the excess
 * (everything must still arrive; the drain time says how long catching up takes) and which
 * lanes pay for it. The rows are those of the records sent in the window: nothing else is
 * offered meanwhile, so they are the rows whose ingest_time is not before its start.
 */
async function measureOverload(
  run: PipelineRun,
  fleet: ServiceFleet,
  probe: CommitProbe,
  options: NonNullable<LatencyOptions['overload']>,
  seed: number,
): Promise<OverloadResult> {
  const ratePerSecond = Math.max(1, Math.round(options.ratePerSec));
  log(`${run.namespace}: overload at ${ratePerSecond} records/s offered for ${options.durationSec} s`);
  const countersBefore = await batchCounters(fleet);
  const insertedBefore = sinkInserted(await metricsOf(fleet, 'sink'));
  const startedAt = Date.now();
  const load = await produceGeneratedEvents({
    kafka: run.kafka,
    registryUrl: run.stack.registryUrl,
    topics: run.topics,
    seed,
    count: Math.round(ratePerSecond * options.durationSec),
    avroShare: AVRO_SHARE,
    ratePerSecond,
    sendBatch: Math.max(1, Math.round(ratePerSecond / 50)),
  });
  const loadEndedAt = Date.now();
  log(
    `${run.namespace}: overload offered ${load.sent} in ${((loadEndedAt - startedAt) / 1000).toFixed(1)} s; waiting for the drain`,
  );
  // The sink's insert counter, not a query per poll: nothing else is offered meanwhile, and
  // a count over hundreds of thousands of ids every half second would load PostgreSQL.
  const deadline = loadEndedAt + options.drainTimeoutMs;
  let drainTimedOut = false;
  for (;;) {
    assertAlive(fleet, run.logDir);
    const inserted = sinkInserted(await metricsOf(fleet, 'sink')) - insertedBefore;
    if (inserted >= load.sent) break;
    if (Date.now() > deadline) {
      drainTimedOut = true;
      break;
    }
    await sleep(POLL_MS);
  }
  const batches = batchStats(countersBefore, await batchCounters(fleet));
  const rows = await latencyRows(run, 'ingest_time >= to_timestamp($1 / 1000.0)', [startedAt]);
  const sentIds = new Set(load.ids);
  const stored = rows.filter((row) => sentIds.has(row.id));
  const stats = durableLatency(stored, await commitTimesFor(probe, stored), LANES);
  const critical = stored.filter((row) => row.lane === 'critical').length;
  const drainEnd = stats.lastCommitAt ?? Date.now();
  const result: OverloadResult = {
    targetRatePerSec: ratePerSecond,
    achievedRatePerSec: round(load.sent / (load.elapsedMs / 1000)),
    plannedSec: options.durationSec,
    offeredSec: round(load.elapsedMs / 1000, 1),
    sent: load.sent,
    rows: stored.length,
    missing: load.sent - stored.length,
    drainTimedOut,
    drainSec: round(Math.max(0, drainEnd - loadEndedAt) / 1000, 1),
    criticalShare: round(critical / Math.max(1, stored.length), 4),
    latencyMs: stats.durable,
    perLane: stats.perLane,
    rowsWithoutCommit: stats.withoutCommit,
    batches,
  };
  log(
    `overload: ${result.achievedRatePerSec}/s achieved of ${ratePerSecond}/s; ${result.rows} of ${result.sent} rows, drained ${result.drainSec} s after the load`,
  );
  return result;
}

/** The rows a latency figure is computed from, with their timestamps as epoch ms. */
async function latencyRows(run: PipelineRun, where: string, values: unknown[]): Promise<LatencyRow[]> {
  const { rows } = await run.pool.query<{
    id: string;
    lane: string;
    xid: string;
    ingest_ms: string;
    inferred_ms: string;
    routed_ms: string;
    written_ms: string;
  }>(
    `SELECT id, lane, xmin::text AS xid,
            extract(epoch FROM ingest_time) * 1000 AS ingest_ms,
            extract(epoch FROM inferred_at) * 1000 AS inferred_ms,
            extract(epoch FROM routed_at) * 1000 AS routed_ms,
            extract(epoch FROM written_at) * 1000 AS written_ms
       FROM ${run.schema}.patterns WHERE ${where}`,
    values,
  );
  return rows.map((row) => ({
    id: row.id,
    lane: row.lane,
    xid: row.xid,
    ingestMs: Number(row.ingest_ms),
    inferredMs: Number(row.inferred_ms),
    routedMs: Number(row.routed_ms),
    writtenMs: Number(row.written_ms),
  }));
}

/**
 * The probe's commit times once it has seen every transaction of `rows`: a notification
 * leaves the server after the COMMIT that made the row visible, so it can trail the row
 * count by a moment. After 5 s what is missing stays missing (and is reported).
 */
async function commitTimesFor(
  probe: CommitProbe,
  rows: readonly LatencyRow[],
): Promise<ReadonlyMap<string, number>> {
  const xids = new Set(rows.map((row) => row.xid));
  const deadline = Date.now() + 5000;
  for (;;) {
    const commits = await probe.commitTimes();
    if ([...xids].every((xid) => commits.has(xid)) || Date.now() > deadline) return commits;
    await sleep(250);
  }
}

async function waitForRows(run: PipelineRun, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = 0;
  while (Date.now() < deadline) {
    const { rows } = await run.pool.query(
      `SELECT count(*)::int AS n FROM ${run.schema}.patterns WHERE id = ANY($1::text[])`,
      [ids],
    );
    count = rows[0].n;
    if (count >= ids.length) return;
    await sleep(500);
  }
  throw new Error(`${run.namespace}: ${count} of ${ids.length} rows after ${timeoutMs} ms`);
}

export function newRunId(): string {
  return randomBytes(3).toString('hex');
}
