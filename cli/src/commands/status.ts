import { STAGES, type Stage } from '@patternflow/service';
import { activeHolds, readRunState, runningSupervisorPid } from '@patternflow/supervisor';
import type { RegisterCommand } from '../context.ts';
import type { ExitCode } from '../exit.ts';
import { collect, parseDuration } from '../options.ts';
import { printJson } from '../output.ts';
import type { Session } from '../session.ts';
import { stageEndpoints } from '../stages/endpoints.ts';
import { parseMetrics } from '../stages/prometheus.ts';
import {
  type Hold,
  type Probe,
  renderStatus,
  type StatusReport,
  stageReport,
  statusExitCode,
} from '../stages/report.ts';
import { endOffsets, groupLag, type PartitionLag } from '../topics/lag.ts';
import { stageInputTopics } from '../topics/names.ts';

interface StatusOptions {
  stageUrl: string[];
  interval: number;
}

export const registerStatus: RegisterCommand = (program, context) => {
  program
    .command('status')
    .description(
      'Per stage: up/ready, records/s in and out, consumer lag, paused or not and why, dead letters by reason.',
    )
    .option(
      '--stage-url <stage=url>',
      "a stage's HTTP endpoint (repeatable; default: where make run puts them, PF_RUN_BASE_PORT and up, or $PF_STAGE_URLS)",
      collect,
      [],
    )
    .option('--interval <duration>', 'time between the two scrapes the rates come from', parseDuration, 1_000)
    .addHelpText(
      'after',
      `
Reads each stage's /healthz, /readyz and /metrics twice (--interval apart) and the consumer
groups' offsets from Kafka. Lag = records of the stage's input topics its group has not
committed. Dead letters are counted since each stage's process started; the DLQ line counts
what the DLQ topic retains.

Exit codes: 0 every stage ready, 1 a stage down, held or not ready, 3 Kafka unreachable.

Examples:
  patternflow status
  patternflow status --stage-url sink=http://sink.internal:9467 --json`,
    )
    .action(
      context.action(async (options: StatusOptions): Promise<ExitCode> => {
        const session = context.session();
        const urls = stageEndpoints(session.settings, options.stageUrl);
        const holds = currentHolds(session);
        const first = await probeAll(urls);
        // Kafka is asked while the interval runs: the wait costs nothing extra.
        const [kafka] = await Promise.all([
          askKafka(session, first),
          new Promise((resolve) => setTimeout(resolve, options.interval)),
        ]);
        const second = await probeAll(urls);
        const report: StatusReport = {
          at: new Date().toISOString(),
          namespace: session.settings.topicNamespace,
          brokers: session.settings.brokers,
          intervalMs: options.interval,
          kafka: kafka.reachable ? { reachable: true } : { reachable: false, error: kafka.error },
          dlq: { topic: session.topics.dlq, records: kafka.reachable ? kafka.dlqRecords : null },
          stages: STAGES.map((stage) => {
            const held = holds.get(stage);
            return stageReport({
              stage,
              url: urls[stage],
              group: session.groupIdOf(stage),
              dlqTopic: session.topics.dlq,
              first: first[stage],
              second: second[stage],
              lag: kafka.reachable ? (kafka.lag.get(stage) ?? null) : null,
              ...(held ? { held } : {}),
            });
          }),
        };
        if (context.json()) printJson(context.io, report);
        else context.io.out(renderStatus(report));
        return statusExitCode(report);
      }),
    );
};

async function probeAll(urls: Record<Stage, string>): Promise<Record<Stage, Probe>> {
  const probes = await Promise.all(STAGES.map((stage) => probe(urls[stage])));
  return Object.fromEntries(STAGES.map((stage, i) => [stage, probes[i]])) as Record<Stage, Probe>;
}

async function probe(url: string): Promise<Probe> {
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2_000) });
    return { ok: response.ok, text: await response.text() };
  };
  try {
    const [health, ready, metrics] = await Promise.all([get('/healthz'), get('/readyz'), get('/metrics')]);
    return {
      up: health.ok,
      ready: ready.ok,
      samples: metrics.ok ? parseMetrics(metrics.text) : null,
      at: Date.now(),
    };
  } catch (error) {
    return { up: false, ready: false, samples: null, at: Date.now(), error: describeFetchError(error) };
  }
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

type KafkaAnswer =
  | { reachable: true; lag: Map<Stage, PartitionLag[]>; dlqRecords: number }
  | { reachable: false; error: string };

async function askKafka(session: Session, probes: Record<Stage, Probe>): Promise<KafkaAnswer> {
  try {
    const admin = await session.admin();
    const existing = await admin.listTopics();
    const lag = new Map<Stage, PartitionLag[]>();
    await Promise.all(
      STAGES.map(async (stage) => {
        // A running stage says what it consumes; otherwise the topics it would consume.
        const reported = (probes[stage].samples ?? [])
          .filter((sample) => sample.name === 'pf_input_topics' && sample.value > 0)
          .map((sample) => sample.labels.topic ?? '');
        const topics = [...new Set([...reported, ...stageInputTopics(stage, session.topics, existing)])];
        lag.set(stage, await groupLag(admin, session.groupIdOf(stage), topics));
      }),
    );
    const [dlq] = await endOffsets(admin, [session.topics.dlq]);
    const dlqRecords = (dlq?.partitions ?? []).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    return { reachable: true, lag, dlqRecords };
  } catch (error) {
    return { reachable: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Stages `make run`'s supervisor keeps stopped on request, when it runs this pipeline. */
function currentHolds(session: Session): Map<string, Hold> {
  const { runDir, topicNamespace } = session.settings;
  if (runningSupervisorPid(runDir) === undefined) return new Map();
  if (readRunState(runDir)?.topicNamespace !== topicNamespace) return new Map();
  return new Map(activeHolds(runDir).map((hold) => [hold.program, hold]));
}
