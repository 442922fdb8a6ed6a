/**
 * Dead letters as the CLI reads them back from the DLQ topic: the reason, stage and origin
 * the stage runner put in the pf-dlq-* headers (libs/kafka/dead-letter.ts), the redrive
 * headers `dlq redrive` added, and the original key, value and headers.
 */
import { DeadLetterHeaders, RedriveHeaders } from '@patternflow/kafka';
import type { TopicNames } from '@patternflow/records';
import type { IHeaders } from 'kafkajs';
import { CliError, ExitCodes } from '../exit.ts';
import { headerText, type RawRecord } from '../records/render.ts';

export interface DlqEntry {
  /** `<partition>:<offset>` in the DLQ topic. */
  readonly id: string;
  readonly partition: number;
  readonly offset: string;
  /** When the dead letter was written (ms). */
  readonly timestamp: number;
  readonly reason: string;
  readonly message: string;
  readonly stage: string;
  readonly sourceTopic: string;
  readonly sourcePartition: string;
  readonly sourceOffset: string;
  /** The pipeline source (payments, auth, …) the record came from, or '-' when unknown. */
  readonly source: string;
  readonly failedAt: string;
  /** 0 for a first failure; n when this record had been redriven n times. */
  readonly redriveCount: number;
  /** The DLQ entry this record was last redriven from (`<dlq topic>/<partition>:<offset>`). */
  readonly redrivenFrom: string | null;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Every header as it was received (the original ones plus pf-dlq-*). */
  readonly headers: IHeaders;
}

const DLQ_HEADER_PREFIX = 'pf-dlq-';

const text = (headers: IHeaders, name: string): string | undefined => {
  const value = headers[name];
  return value === undefined ? undefined : headerText(value);
};

/**
 * Reads a DLQ record. `source` comes from the ingest topic the record failed on, or the
 * `pf-source` header the ingestor puts on canonical records, or `sourceFromValue` (the
 * decoded record's own `source` field, for the router's and the sink's inputs).
 */
export function toDlqEntry(record: RawRecord, topics: TopicNames, sourceFromValue?: string): DlqEntry {
  const headers = record.headers ?? {};
  const sourceTopic = text(headers, DeadLetterHeaders.sourceTopic) ?? '';
  const count = Number(text(headers, RedriveHeaders.count) ?? '0');
  return {
    id: `${record.partition}:${record.offset}`,
    partition: record.partition,
    offset: record.offset,
    timestamp: Number(record.timestamp),
    reason: text(headers, DeadLetterHeaders.reason) ?? '-',
    message: text(headers, DeadLetterHeaders.message) ?? '',
    stage: text(headers, DeadLetterHeaders.stage) ?? '-',
    sourceTopic,
    sourcePartition: text(headers, DeadLetterHeaders.sourcePartition) ?? '',
    sourceOffset: text(headers, DeadLetterHeaders.sourceOffset) ?? '',
    source: topics.sourceOf(sourceTopic) ?? text(headers, 'pf-source') ?? sourceFromValue ?? '-',
    failedAt: text(headers, DeadLetterHeaders.failedAt) ?? '',
    redriveCount: Number.isSafeInteger(count) && count > 0 ? count : 0,
    redrivenFrom: text(headers, RedriveHeaders.from) ?? null,
    key: record.key,
    value: record.value,
    headers,
  };
}

/** The headers the record had before it was dead-lettered: all but pf-dlq-*. */
export function originalHeaders(headers: IHeaders): IHeaders {
  const out: IHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(DLQ_HEADER_PREFIX) && value !== undefined) {
      Object.defineProperty(out, name, { value, enumerable: true, writable: true });
    }
  }
  return out;
}

export interface DlqFilter {
  readonly reason?: string;
  readonly stage?: string;
  readonly source?: string;
  /** Only dead letters written at or after this time (ms). */
  readonly since?: number;
}

/** `--reason not_decodable`, `VALUE_NOT_DECODABLE` and `PF_VALUE_NOT_DECODABLE` name one code. */
export function normalizeReason(reason: string): string {
  const upper = reason.trim().toUpperCase();
  return upper.startsWith('PF_') ? upper : `PF_${upper}`;
}

export function matchesDlqFilter(entry: DlqEntry, filter: DlqFilter): boolean {
  if (filter.reason !== undefined && entry.reason !== normalizeReason(filter.reason)) return false;
  if (filter.stage !== undefined && entry.stage !== filter.stage) return false;
  if (filter.source !== undefined && entry.source !== filter.source) return false;
  if (filter.since !== undefined && entry.timestamp < filter.since) return false;
  return true;
}

export interface DlqGroup {
  reason: string;
  stage: string;
  source: string;
  count: number;
  first: string;
  last: string;
  /** One entry of the group, for `dlq show`. */
  example: string;
  /** Entries of the group that `dlq redrive` has sent back (they have a redrive mark). */
  redriven: number;
  /** Entries that are records which were redriven and failed again (a loop, when it grows). */
  returned: number;
  /** The highest redrive count among them. */
  maxRedriveCount: number;
}

/** Dead letters grouped by reason, stage and source; the largest group first. `redriven`: ids with a redrive mark. */
export function groupEntries(
  entries: readonly DlqEntry[],
  redriven: ReadonlySet<string> = new Set(),
): DlqGroup[] {
  const groups = new Map<string, DlqGroup & { firstMs: number; lastMs: number }>();
  for (const entry of entries) {
    const key = JSON.stringify([entry.reason, entry.stage, entry.source]);
    let group = groups.get(key);
    if (!group) {
      group = {
        reason: entry.reason,
        stage: entry.stage,
        source: entry.source,
        count: 0,
        first: '',
        last: '',
        example: entry.id,
        redriven: 0,
        returned: 0,
        maxRedriveCount: 0,
        firstMs: Number.POSITIVE_INFINITY,
        lastMs: Number.NEGATIVE_INFINITY,
      };
      groups.set(key, group);
    }
    group.count += 1;
    if (entry.timestamp < group.firstMs) group.firstMs = entry.timestamp;
    if (entry.timestamp >= group.lastMs) {
      group.lastMs = entry.timestamp;
      group.example = entry.id;
    }
    if (redriven.has(entry.id)) group.redriven += 1;
    if (entry.redriveCount > 0) group.returned += 1;
    group.maxRedriveCount = Math.max(group.maxRedriveCount, entry.redriveCount);
  }
  return [...groups.values()]
    .map(({ firstMs, lastMs, ...group }) => ({
      ...group,
      first: new Date(firstMs).toISOString(),
      last: new Date(lastMs).toISOString(),
    }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

/**
 * A DLQ entry as operators name it: `<partition>:<offset>`, or as redrive headers name it,
 * `<dlq topic>/<partition>:<offset>` (the topic must then be this pipeline's DLQ).
 */
export function parseEntryId(text: string, dlqTopic: string): { partition: number; offset: string } {
  const slash = text.lastIndexOf('/');
  const topic = slash >= 0 ? text.slice(0, slash) : dlqTopic;
  const match = /^(\d+):(\d+)$/.exec(text.slice(slash + 1));
  if (!match || topic !== dlqTopic) {
    throw new CliError(
      ExitCodes.USAGE,
      `a DLQ entry is <partition>:<offset> (e.g. 0:17) or ${dlqTopic}/<partition>:<offset>, got "${text}"`,
    );
  }
  return { partition: Number(match[1]), offset: match[2] as string };
}
