/**
 * `patternflow status` as data: what each stage's endpoints and Kafka said, turned into
 * one report (the --json document) and one screen of text. Pure: the probes are done by
 * the command.
 */
import type { Stage } from '@patternflow/service';
import { type ExitCode, ExitCodes } from '../exit.ts';
import { formatTable } from '../output.ts';
import { escapeControls } from '../records/render.ts';
import type { PartitionLag } from '../topics/lag.ts';
import { type Sample, sumBy, sumOf } from './prometheus.ts';

/** One round of a stage's endpoints. */
export interface Probe {
  /** /healthz answered 200. */
  readonly up: boolean;
  /** /readyz answered 200. */
  readonly ready: boolean;
  readonly samples: readonly Sample[] | null;
  /** When /metrics answered (ms), for rates. */
  readonly at: number;
  /** Why the stage could not be asked, when it could not. */
  readonly error?: string;
}

export interface Hold {
  readonly holderPid: number;
  readonly reason: string;
  readonly since: string;
}

export type StageState = 'ready' | 'not-ready' | 'down' | 'held';

export interface StageReport {
  stage: Stage;
  url: string;
  state: StageState;
  error?: string;
  /** Stopped on purpose by `make run`'s supervisor (patternflow replay --force). */
  held?: Hold;
  group: string;
  /** Records per second over the two scrapes; null when not measurable (down, restarted). */
  inPerSecond: number | null;
  outPerSecond: number | null;
  /** Records of the group still to read on the stage's input topics; null without Kafka. */
  lag: number | null;
  lagByTopic: Record<string, number>;
  paused: boolean | null;
  /** Why: `downstream-backlog` or the code of a failure being retried, with how many hold it. */
  pauseReasons: { reason: string; holders: number }[];
  /** Offsets the stage's client cannot read; the stage waits for `patternflow skip`. */
  unreadable: { topic: string; partition: string; from: string; to: string }[];
  /** Dead letters by reason since the stage's process started. */
  deadLetters: Record<string, number>;
}

export interface StatusReport {
  at: string;
  namespace: string;
  brokers: readonly string[];
  intervalMs: number;
  kafka: { reachable: boolean; error?: string };
  dlq: { topic: string; records: number | null };
  stages: StageReport[];
}

const IN = 'pf_records_in_total';
/** What a stage hands on: records produced (the DLQ left out), or rows written (the sink). */
const OUT = ['pf_records_out_total', 'pf_sink_rows_total'] as const;

export function stageReport(input: {
  stage: Stage;
  url: string;
  group: string;
  dlqTopic: string;
  first: Probe;
  second: Probe;
  lag: readonly PartitionLag[] | null;
  held?: Hold;
}): StageReport {
  const { first, second } = input;
  const samples = second.samples ?? [];
  const notDlq = (labels: Readonly<Record<string, string>>) => labels.topic !== input.dlqTopic;
  const rate = (names: readonly string[]) => {
    if (!first.samples || !second.samples || second.at <= first.at) return null;
    const total = (samples: readonly Sample[]) =>
      names.reduce((sum, name) => sum + sumOf(samples, name, notDlq), 0);
    const delta = total(second.samples) - total(first.samples);
    // A restart between the scrapes resets the counters: no rate rather than a negative one.
    return delta < 0 ? null : delta / ((second.at - first.at) / 1000);
  };
  const lagByTopic: Record<string, number> = {};
  for (const row of input.lag ?? []) lagByTopic[row.topic] = (lagByTopic[row.topic] ?? 0) + row.lag;
  const state: StageState =
    input.held && !second.up ? 'held' : !second.up ? 'down' : second.ready ? 'ready' : 'not-ready';
  return {
    stage: input.stage,
    url: input.url,
    state,
    ...(second.error === undefined ? {} : { error: second.error }),
    ...(input.held ? { held: input.held } : {}),
    group: input.group,
    inPerSecond: rate([IN]),
    outPerSecond: rate(OUT),
    lag: input.lag ? input.lag.reduce((sum, row) => sum + row.lag, 0) : null,
    lagByTopic,
    paused: second.samples ? sumOf(samples, 'pf_consumer_paused') > 0 : null,
    pauseReasons: Object.entries(sumBy(samples, 'pf_consumer_pause_reason', 'reason'))
      .filter(([, holders]) => holders > 0)
      .map(([reason, holders]) => ({ reason, holders })),
    unreadable: samples
      .filter((sample) => sample.name === 'pf_unreadable_batch' && sample.value > 0)
      .map(({ labels }) => ({
        topic: labels.topic ?? '',
        partition: labels.partition ?? '',
        from: labels.from ?? '',
        to: labels.to ?? '',
      })),
    deadLetters: Object.fromEntries(
      Object.entries(sumBy(samples, 'pf_dlq_records_total', 'reason')).filter(([, count]) => count > 0),
    ),
  };
}

/** 0 when every stage is ready, 1 when one is not (down, held, not ready), 3 without Kafka. */
export function statusExitCode(report: StatusReport): ExitCode {
  if (!report.kafka.reachable) return ExitCodes.UNAVAILABLE;
  return report.stages.every((stage) => stage.state === 'ready') ? ExitCodes.OK : ExitCodes.FAILED;
}

const STATE_TEXT: Record<StageState, string> = {
  ready: 'ready',
  'not-ready': 'NOT READY',
  down: 'DOWN',
  held: 'HELD',
};

const perSecond = (value: number | null) => (value === null ? '-' : value.toFixed(1));

function pausedText(stage: StageReport): string {
  if (stage.paused === null) return '-';
  if (!stage.paused) return 'no';
  const reasons = stage.pauseReasons.map(({ reason, holders }) =>
    holders > 1 ? `${reason} x${holders}` : reason,
  );
  return reasons.length > 0 ? `yes: ${reasons.join(', ')}` : 'yes';
}

function deadLetterText(stage: StageReport): string {
  const entries = Object.entries(stage.deadLetters).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return stage.paused === null ? '-' : '0';
  return entries.map(([reason, count]) => `${reason} ${count}`).join(', ');
}

/** One screen: a line per stage, then the DLQ topic and whatever needs a person's attention. */
export function renderStatus(report: StatusReport): string {
  const namespace = report.namespace === '' ? '(none)' : report.namespace;
  const lines = [
    `patternflow status  ${report.at}  namespace ${namespace}  Kafka ${report.brokers.join(',')}  rates over ${(report.intervalMs / 1000).toFixed(1)} s`,
    '',
    formatTable(report.stages, [
      { header: 'STAGE', value: (s) => s.stage },
      { header: 'STATE', value: (s) => STATE_TEXT[s.state] },
      { header: 'IN/s', value: (s) => perSecond(s.inPerSecond), align: 'right' },
      { header: 'OUT/s', value: (s) => perSecond(s.outPerSecond), align: 'right' },
      { header: 'LAG', value: (s) => s.lag ?? '-', align: 'right' },
      { header: 'PAUSED', value: pausedText },
      { header: 'DLQ SINCE START', value: deadLetterText },
    ]),
    '',
    report.dlq.records === null
      ? `DLQ ${report.dlq.topic}: unknown (Kafka unreachable)`
      : `DLQ ${report.dlq.topic}: ${report.dlq.records} record(s) retained (patternflow dlq list)`,
  ];
  if (!report.kafka.reachable) lines.push(`Kafka unreachable: ${escapeControls(report.kafka.error ?? '')}`);
  for (const stage of report.stages) {
    if (stage.held) {
      lines.push(
        `${stage.stage}: held by pid ${stage.held.holderPid} (${stage.held.reason}) since ${stage.held.since}`,
      );
    } else if (stage.state === 'down') {
      lines.push(`${stage.stage}: ${stage.url} does not answer: ${escapeControls(stage.error ?? '')}`);
    }
    for (const range of stage.unreadable) {
      lines.push(
        `${stage.stage}: stopped in front of an unreadable batch: ${range.topic} partition ${range.partition}, offsets ${range.from} to ${range.to} (patternflow skip --help)`,
      );
    }
  }
  return lines.join('\n');
}
