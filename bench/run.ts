/**
 * The benchmark harness (`npm run bench [-- --quick]`, `make bench`): the pipeline on the
 * real local stack against the limits of its parts, measured in the same run.
 *
 *   limits     avsc/JSON codecs, onnxruntime at the tagger's batch size, Kafka's perf tools,
 *              Kafka's latency floor (EndToEndLatency), one kafkajs relay, a chain of four
 *              relays (bench/limits)
 *   pipeline   each stage alone, end-to-end saturation, ingest→durable latency at 25% and
 *              50% of saturation overall and per lane (and one relay's latency at the same
 *              rates), then the overload scenario (150% of saturation, then the drain)
 *   ratios     pipeline ÷ chain, chain ÷ Kafka producer, stage ÷ relay, latency ÷ 4 × relay
 *              and ÷ 4 × floor, overload ÷ 25% (critical lane), records per CPU-second with
 *              the broker included; and whether the latency goals hold
 *
 * Prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json.
 * Every run has its own topics, consumer groups, PG schemas and cold dirs, and removes them
 * at the end, also on failure or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureInference } from './inference-throughput.ts';
import { latencyGoals, latencyMultiples } from './latency-goals.ts';
import { measureCodec, sampleNormalizedRecord } from './limits/codec.ts';
import { measureEndToEndLatency } from './limits/e2e-latency.ts';
import { measureKafkaPerfTools } from './limits/kafka-perf.ts';
import {
  measurePassthroughChain,
  measurePassthroughLatency,
  measureSingleRelay,
} from './limits/passthrough.ts';
import {
  measureLatency,
  measureSaturation,
  measureStagesAlone,
  newRunId,
  PipelineRun,
  type StackEndpoints,
} from './pipeline.ts';
import { codeFingerprint, loadAverage, machineFacts, ROOT, round } from './system.ts';

interface Settings {
  mode: 'quick' | 'full';
  codecMs: number;
  inferenceSecPerModel: number;
  perfRecords: number;
  /** EndToEndLatency messages: the first one carries the JVM's warm-up. */
  floorMessages: number;
  relayRecords: number;
  stageRecords: number;
  stageWarmupSec: number;
  saturationWarmupSec: number;
  saturationMeasureSec: number;
  saturationMaxRecords: number;
  latencyWarmupSec: number;
  latencySec: number;
  latencyFractions: number[];
  /** Offered load of the overload scenario, as a multiple of the measured saturation. */
  overloadFactor: number;
  overloadSec: number;
  drainTimeoutSec: number;
}

const SETTINGS: Record<'quick' | 'full', Settings> = {
  quick: {
    mode: 'quick',
    codecMs: 500,
    inferenceSecPerModel: 1,
    perfRecords: 100_000,
    floorMessages: 3000,
    relayRecords: 40_000,
    stageRecords: 30_000,
    stageWarmupSec: 1,
    saturationWarmupSec: 5,
    saturationMeasureSec: 10,
    saturationMaxRecords: 80_000,
    latencyWarmupSec: 2,
    latencySec: 8,
    latencyFractions: [0.25, 0.5],
    overloadFactor: 1.5,
    overloadSec: 15,
    drainTimeoutSec: 300,
  },
  full: {
    mode: 'full',
    codecMs: 2000,
    inferenceSecPerModel: 3,
    perfRecords: 500_000,
    floorMessages: 10_000,
    relayRecords: 200_000,
    stageRecords: 80_000,
    stageWarmupSec: 3,
    saturationWarmupSec: 15,
    saturationMeasureSec: 60,
    saturationMaxRecords: 600_000,
    latencyWarmupSec: 5,
    latencySec: 30,
    latencyFractions: [0.25, 0.5],
    overloadFactor: 1.5,
    overloadSec: 60,
    drainTimeoutSec: 300,
  },
};

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

function stackEndpoints(): StackEndpoints & { kafkaHome: string } {
  const env: Record<string, string | undefined> = { ...process.env };
  if (!env.PF_KAFKA_HOME || !env.PF_KAFKA_BROKERS) {
    // The same values `make bench` exports: scripts/stack.sh env.
    const text = execFileSync('bash', [join(ROOT, 'scripts', 'stack.sh'), 'env'], { encoding: 'utf8' });
    for (const match of text.matchAll(/^export (\w+)=(.*)$/gm)) env[match[1]!] ??= match[2];
  }
  return {
    brokers: (env.PF_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
    registryUrl: env.PF_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
    pgUrl: env.PF_PG_URL ?? 'postgres://patternflow:patternflow@127.0.0.1:15432/patternflow',
    kafkaHome: env.PF_KAFKA_HOME ?? '',
  };
}

async function main(): Promise<void> {
  const settings = SETTINGS[process.argv.includes('--quick') ? 'quick' : 'full'];
  const stack = stackEndpoints();
  const startedAt = new Date();
  const runId = newRunId();
  const runs: PipelineRun[] = [];
  const cleanup = async () => {
    await Promise.allSettled(runs.splice(0).map((run) => run.cleanup()));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const machine = machineFacts();
  log(
    `${settings.mode} run ${runId} on ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}`,
  );
  try {
    // ---- limits of the parts
    log('codec throughput (avsc, JSON)');
    const codec = await measureCodec({ durationMs: settings.codecMs, record: sampleNormalizedRecord() });
    const valueBytes = codec.avroBytes;
    log('onnxruntime inference at batch 512');
    const inference = await measureInference({ batch: 512, secondsPerModel: settings.inferenceSecPerModel });
    log(`Kafka perf tools: ${settings.perfRecords} records of ${valueBytes} B`);
    const kafkaPerf = await measureKafkaPerfTools({
      brokers: stack.brokers,
      kafkaHome: stack.kafkaHome,
      records: settings.perfRecords,
      recordSize: valueBytes,
      partitions: 3,
    });
    log(`Kafka EndToEndLatency: ${settings.floorMessages} messages of ${valueBytes} B, one at a time`);
    const kafkaFloor = await measureEndToEndLatency({
      brokers: stack.brokers,
      kafkaHome: stack.kafkaHome,
      messages: settings.floorMessages,
      messageBytes: valueBytes,
      partitions: 3,
    });
    log(`single kafkajs relay: ${settings.relayRecords} records`);
    const singleRelay = await measureSingleRelay({
      brokers: stack.brokers,
      records: settings.relayRecords,
      valueBytes,
    });
    log(`chain of four kafkajs relays: ${settings.relayRecords} records`);
    const chain = await measurePassthroughChain({
      brokers: stack.brokers,
      records: settings.relayRecords,
      valueBytes,
      relays: 4,
    });

    // ---- the pipeline
    const stagesRun = new PipelineRun(stack, 's', runId);
    runs.push(stagesRun);
    log(`each stage alone over ${settings.stageRecords} records`);
    const stagesAlone = await measureStagesAlone(stagesRun, {
      count: settings.stageRecords,
      warmupSec: settings.stageWarmupSec,
      seed: 101,
    });

    const slowestStage = Math.min(...stagesAlone.stages.map((stage) => stage.recordsPerSec));
    const planned = settings.saturationWarmupSec + settings.saturationMeasureSec + 10;
    const saturationCount = Math.min(settings.saturationMaxRecords, Math.ceil(slowestStage * planned * 1.2));
    const saturationRun = new PipelineRun(stack, 'e', runId);
    runs.push(saturationRun);
    log(`saturation: ${saturationCount} pre-filled events (slowest stage alone ${slowestStage}/s)`);
    const saturation = await measureSaturation(saturationRun, {
      count: saturationCount,
      warmupSec: settings.saturationWarmupSec,
      measureSec: settings.saturationMeasureSec,
      seed: 202,
    });
    log(`saturation: ${saturation.recordsPerSec} records/s over ${saturation.measuredSec} s`);
    await saturationRun.cleanup();
    runs.splice(runs.indexOf(saturationRun), 1);

    const rates = settings.latencyFractions.map((fraction) =>
      Math.round(saturation.recordsPerSec * fraction),
    );
    // The stage-alone run's groups are at the end of their input: reuse its topics and schema.
    const { rates: latency, overload } = await measureLatency(stagesRun, {
      rates,
      warmupSec: settings.latencyWarmupSec,
      durationSec: settings.latencySec,
      seed: 303,
      overload: {
        ratePerSec: saturation.recordsPerSec * settings.overloadFactor,
        durationSec: settings.overloadSec,
        drainTimeoutMs: settings.drainTimeoutSec * 1000,
      },
    });
    await stagesRun.cleanup();
    runs.splice(runs.indexOf(stagesRun), 1);
    const relayLatency: Awaited<ReturnType<typeof measurePassthroughLatency>>[] = [];
    for (const rate of rates) {
      log(`one kafkajs relay's latency at ${rate} records/s`);
      relayLatency.push(
        await measurePassthroughLatency({
          brokers: stack.brokers,
          ratePerSec: rate,
          durationSec: settings.latencySec,
          warmupSec: settings.latencyWarmupSec,
          valueBytes,
          relays: 1,
        }),
      );
    }

    // ---- ratios
    const singleRelayRate = singleRelay.perRelay[0]!.recordsPerSec;
    const ratios = {
      pipelineOverPassthroughChain: round(saturation.recordsPerSec / chain.endToEnd.recordsPerSec, 3),
      passthroughChainOverKafkaProducer: round(
        chain.endToEnd.recordsPerSec / kafkaPerf.produce.recordsPerSec,
        3,
      ),
      stageAloneOverSingleRelay: Object.fromEntries(
        stagesAlone.stages.map((stage) => [stage.stage, round(stage.recordsPerSec / singleRelayRate, 3)]),
      ),
      p99OverFourRelayP99: Object.fromEntries(
        latency.map((result, i) => [
          String(result.offeredRatePerSec),
          round(result.latencyMs.p99 / (4 * relayLatency[i]!.latencyMs.p99), 2),
        ]),
      ),
      latencyMultiples: Object.fromEntries(
        latency.map((result, i) => [
          String(result.offeredRatePerSec),
          latencyMultiples(result.latencyMs, kafkaFloor, relayLatency[i]!.latencyMs),
        ]),
      ),
      criticalP99OverloadOver25: ratioOrNull(
        overload?.perLane.critical?.p99,
        latency[settings.latencyFractions.indexOf(0.25)]?.perLane.critical?.p99,
      ),
      recordsPerCpuSecondWithBroker: saturation.recordsPerCpuSecond.servicesAndBroker,
    };
    const at50 = latency[settings.latencyFractions.indexOf(0.5)];
    const goals = latencyGoals({
      at50: at50?.latencyMs ?? { p50: Number.NaN, p99: Number.NaN },
      perRate: latency.map((result, i) => ({
        label: `${Math.round(settings.latencyFractions[i]! * 100)}%`,
        p99: result.latencyMs.p99,
        relayP99: relayLatency[i]!.latencyMs.p99,
      })),
      criticalP99Overload: overload?.perLane.critical?.p99 ?? null,
      criticalP99At25: latency[settings.latencyFractions.indexOf(0.25)]?.perLane.critical?.p99 ?? null,
      overloadMissing: overload?.missing ?? null,
    });
    const finishedAt = new Date();
    const result = {
      mode: settings.mode,
      runId,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSec: round((finishedAt.getTime() - startedAt.getTime()) / 1000, 1),
      command: `npm run bench${settings.mode === 'quick' ? ' -- --quick' : ''}`,
      machine,
      loadAverageAtEnd: loadAverage(),
      codeFingerprintAtEnd: codeFingerprint(),
      codeChangedDuringRun: codeFingerprint() !== machine.codeFingerprint,
      settings,
      workload: {
        sources: ['payments', 'auth', 'netflow'],
        avroShare: 0.4,
        partitions: 3,
        relayValueBytes: valueBytes,
      },
      pipeline: { saturation, stagesAlone, latency, overload },
      limits: { codec, inference, kafkaPerf, kafkaFloor, singleRelay, passthroughChain: chain, relayLatency },
      ratios,
      goals,
    };
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const file = join(dir, `${stamp}${settings.mode === 'quick' ? '-quick' : ''}.json`);
    const text = `${JSON.stringify(result, null, 2)}\n`;
    writeFileSync(file, text);
    writeFileSync(join(dir, 'latest.json'), text);
    printTable(result);
    process.stdout.write(`\nresults: ${file} (and bench/results/latest.json)\n`);
  } finally {
    await cleanup();
  }
}

type Result = {
  mode: string;
  durationSec: number;
  machine: ReturnType<typeof machineFacts>;
  loadAverageAtEnd: number[];
  codeChangedDuringRun: boolean;
  pipeline: {
    saturation: Awaited<ReturnType<typeof measureSaturation>>;
    stagesAlone: Awaited<ReturnType<typeof measureStagesAlone>>;
    latency: Awaited<ReturnType<typeof measureLatency>>['rates'];
    overload: Awaited<ReturnType<typeof measureLatency>>['overload'];
  };
  limits: {
    codec: Awaited<ReturnType<typeof measureCodec>>;
    inference: Awaited<ReturnType<typeof measureInference>>;
    kafkaPerf: Awaited<ReturnType<typeof measureKafkaPerfTools>>;
    kafkaFloor: Awaited<ReturnType<typeof measureEndToEndLatency>>;
    singleRelay: Awaited<ReturnType<typeof measureSingleRelay>>;
    passthroughChain: Awaited<ReturnType<typeof measurePassthroughChain>>;
    relayLatency: Awaited<ReturnType<typeof measurePassthroughLatency>>[];
  };
  ratios: {
    pipelineOverPassthroughChain: number;
    passthroughChainOverKafkaProducer: number;
    stageAloneOverSingleRelay: Record<string, number>;
    p99OverFourRelayP99: Record<string, number>;
    latencyMultiples: Record<string, ReturnType<typeof latencyMultiples>>;
    criticalP99OverloadOver25: number | null;
    recordsPerCpuSecondWithBroker: number | null;
  };
  goals: ReturnType<typeof latencyGoals>;
  settings: Settings;
};

function ratioOrNull(numerator: number | undefined, denominator: number | undefined): number | null {
  if (numerator === undefined || denominator === undefined || denominator <= 0) return null;
  return round(numerator / denominator, 2);
}

function printTable(result: Result): void {
  const { saturation, stagesAlone, latency, overload } = result.pipeline;
  const { codec, inference, kafkaPerf, kafkaFloor, singleRelay, passthroughChain, relayLatency } =
    result.limits;
  const m = result.machine;
  const rows: [string, string, string][] = [];
  const section = (title: string) => rows.push([`== ${title}`, '', '']);
  const n = (value: number) => Math.round(value).toLocaleString('en-US');

  section('pipeline');
  rows.push([
    'end-to-end saturation',
    `${n(saturation.recordsPerSec)} rec/s`,
    `${n(saturation.measuredRecords)} rows in ${saturation.measuredSec} s after ${saturation.warmupSec} s warm-up${saturation.inputExhausted ? ' (input exhausted)' : ''}`,
  ]);
  rows.push([
    '  per stage in the run',
    '',
    Object.entries(saturation.stageRecordsPerSec)
      .map(([name, rate]) => `${name} ${n(rate)}`)
      .join(', '),
  ]);
  rows.push([
    '  CPU seconds in the window',
    '',
    Object.entries(saturation.cpuSeconds)
      .map(([name, seconds]) => `${name} ${seconds}`)
      .join(', '),
  ]);
  rows.push([
    '  mean batch: records / ms',
    '',
    Object.entries(saturation.batches)
      .map(([name, b]) => `${name} ${b.meanBatchRecords} / ${b.meanBatchMs}`)
      .join(', '),
  ]);
  rows.push([
    '  records per CPU-second',
    `${saturation.recordsPerCpuSecond.servicesAndBroker ?? 'n/a'}`,
    `with the broker; ${saturation.recordsPerCpuSecond.servicesOnly} services only`,
  ]);
  rows.push([
    '  peak RSS (MiB)',
    '',
    Object.entries(saturation.peakRssMiB)
      .map(([name, mib]) => `${name} ${mib}`)
      .join(', '),
  ]);
  for (const stage of stagesAlone.stages) {
    rows.push([
      `${stage.stage} alone`,
      `${n(stage.recordsPerSec)} rec/s`,
      `${n(stage.recordsPerCpuSecond)} rec/CPU-s, peak RSS ${stage.peakRssMiB} MiB, ${stage.measuredSec} s${stage.incomplete ? ' (stalled)' : ''}`,
    ]);
  }
  const lanes = (perLane: Record<string, { count: number; p50: number; p99: number }>) =>
    Object.entries(perLane)
      .map(([lane, l]) => `${lane} ${n(l.count)}: ${l.p50} / ${l.p99}`)
      .join(', ');
  latency.forEach((result, i) => {
    const relay = relayLatency[i]!;
    const d = result.latencyMs;
    const fraction = result.offeredRatePerSec / Math.max(1, saturation.recordsPerSec);
    rows.push([
      `latency @ ${n(result.offeredRatePerSec)} rec/s (${Math.round(fraction * 100)}%)`,
      `p99 ${d.p99} ms`,
      `durable: p50 ${d.p50} / p95 ${d.p95} / max ${d.max} / mean ${d.mean} ms, ${n(d.count)} rows (${result.rowsWithoutCommit} without a commit); 1 relay p50 / p99 ${relay.latencyMs.p50} / ${relay.latencyMs.p99} ms`,
    ]);
    rows.push([
      '  written_at (former figure)',
      '',
      `p50 ${result.writtenAtLatencyMs.p50} / p99 ${result.writtenAtLatencyMs.p99} ms (start of the sink's transaction)`,
    ]);
    rows.push(['  per lane: rows, p50 / p99 (ms)', '', lanes(result.perLane)]);
    const h = result.hopsMs;
    rows.push([
      '  p50 / p99 per hop (ms)',
      '',
      `ingest→inferred ${h.ingestToInferred.p50} / ${h.ingestToInferred.p99}, →routed ${h.inferredToRouted.p50} / ${h.inferredToRouted.p99}, →written ${h.routedToWritten.p50} / ${h.routedToWritten.p99}, →durable ${h.writtenToDurable.p50} / ${h.writtenToDurable.p99}`,
    ]);
    rows.push([
      '  mean batch: records / ms',
      '',
      Object.entries(result.batches)
        .map(([name, b]) => `${name} ${b.meanBatchRecords} / ${b.meanBatchMs}`)
        .join(', '),
    ]);
  });
  if (overload) {
    const o = overload;
    rows.push([
      `overload @ ${n(o.targetRatePerSec)} rec/s (${Math.round(result.settings.overloadFactor * 100)}%)`,
      `${n(o.achievedRatePerSec)} rec/s`,
      `achieved; ${n(o.sent)} sent in ${o.offeredSec} s (planned ${o.plannedSec} s), ${n(o.rows)} rows, ${o.missing} missing${o.drainTimedOut ? ' (drain timed out)' : ''}`,
    ]);
    rows.push([
      '  drain after the load',
      `${o.drainSec} s`,
      `critical share ${round(o.criticalShare * 100, 1)}%; durable p50 ${o.latencyMs.p50} / p99 ${o.latencyMs.p99} / max ${o.latencyMs.max} ms (${o.rowsWithoutCommit} without a commit)`,
    ]);
    rows.push(['  per lane: rows, p50 / p99 (ms)', '', lanes(o.perLane)]);
  }
  section('limits');
  rows.push([
    'Kafka EndToEndLatency (floor)',
    `p50 ${kafkaFloor.p50Ms} ms`,
    `p99 ${kafkaFloor.p99Ms} / p99.9 ${kafkaFloor.p999Ms} / avg ${kafkaFloor.avgMs} ms; acks=all, ${kafkaFloor.messageBytes} B, ${n(kafkaFloor.messages)} messages one at a time, ${kafkaFloor.partitions} partitions`,
  ]);
  rows.push([
    'kafkajs chain of 4 relays',
    `${n(passthroughChain.endToEnd.recordsPerSec)} rec/s`,
    `${passthroughChain.valueBytes} B values, ${passthroughChain.partitions} partitions`,
  ]);
  rows.push([
    'kafkajs single relay',
    `${n(singleRelay.perRelay[0]!.recordsPerSec)} rec/s`,
    `end to end ${n(singleRelay.endToEnd.recordsPerSec)} rec/s`,
  ]);
  rows.push([
    'Kafka ProducerPerformance',
    `${n(kafkaPerf.produce.recordsPerSec)} rec/s`,
    `acks=all, ${kafkaPerf.recordSize} B; ConsumerPerformance ${n(kafkaPerf.consume.recordsPerSec)} rec/s`,
  ]);
  rows.push([
    `onnxruntime batch ${inference.batch}`,
    `${n(inference.equalMixRecordsPerSec)} rec/s`,
    inference.perModel.map((model) => `${model.source} ${n(model.recordsPerSec)}`).join(', '),
  ]);
  rows.push([
    'avsc encode / decode',
    `${n(codec.avro.encodePerSec)} / ${n(codec.avro.decodePerSec)}`,
    `rec/s, ${codec.avroBytes} B`,
  ]);
  rows.push([
    'JSON stringify / parse',
    `${n(codec.json.stringifyPerSec)} / ${n(codec.json.parsePerSec)}`,
    `rec/s, ${codec.jsonBytes} B`,
  ]);
  section('ratios');
  const r = result.ratios;
  rows.push(['pipeline ÷ passthrough chain', String(r.pipelineOverPassthroughChain), '']);
  rows.push(['chain ÷ Kafka producer', String(r.passthroughChainOverKafkaProducer), '']);
  for (const [stage, ratio] of Object.entries(r.stageAloneOverSingleRelay)) {
    rows.push([`${stage} alone ÷ single relay`, String(ratio), '']);
  }
  for (const [rate, multiples] of Object.entries(r.latencyMultiples)) {
    const floor = multiples.overFourFloor;
    rows.push([
      `durable p50 / p99 ÷ (4 × floor) @ ${rate}`,
      `${floor.lowerBound ? '≥ ' : ''}${floor.p50} / ${floor.p99}`,
      floor.lowerBound ? 'a floor percentile under 1 ms is taken as 1 ms' : '',
    ]);
    rows.push([
      `durable p50 / p99 ÷ (4 × relay) @ ${rate}`,
      `${multiples.overFourRelay.p50} / ${multiples.overFourRelay.p99}`,
      'one relay at the same offered rate',
    ]);
  }
  rows.push([
    'critical p99: overload ÷ 25%',
    String(r.criticalP99OverloadOver25 ?? 'n/a'),
    'durable, critical lane',
  ]);
  rows.push(['records per CPU-second', String(r.recordsPerCpuSecondWithBroker ?? 'n/a'), 'broker included']);
  section('goals (issue 12)');
  for (const goal of result.goals) {
    const unit = goal.unit === 'ms' ? ' ms' : '';
    rows.push([
      goal.goal,
      goal.met === null ? 'n/a' : goal.met ? 'met' : 'NOT MET',
      goal.value === null ? 'no figure' : `${goal.value}${unit}`,
    ]);
  }
  section('machine');
  rows.push([
    `${m.cores} cores, ${m.memoryGiB} GiB`,
    '',
    `${m.cpuModel}; node ${m.node}, Kafka ${m.kafka}, commit ${m.gitCommit?.slice(0, 10)}${m.gitDirty ? '+dirty' : ''}`,
  ]);
  rows.push([
    'load average start / end',
    `${m.loadAverage[0]} / ${result.loadAverageAtEnd[0]}`,
    `${result.mode} mode, ${result.durationSec} s in total`,
  ]);
  if (result.codeChangedDuringRun) {
    rows.push(['WARNING', '', 'libs/services/models changed during the run: the figures mix two versions']);
  }

  const w0 = Math.max(...rows.map((row) => row[0].length));
  const w1 = Math.max(...rows.map((row) => row[1].length));
  process.stdout.write('\n');
  for (const [a, b, c] of rows) {
    process.stdout.write(`${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`.trimEnd().concat('\n'));
  }
}

main().catch((error: unknown) => {
  log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
