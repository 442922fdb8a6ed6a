/**
 * What `dlq redrive` sends: each selected dead letter's original key, value and headers
 * back to the topic it failed on, with headers that count the redrives, so a record that
 * keeps failing comes back to the DLQ marked and stops at a bound instead of looping.
 */
import { RedriveHeaders } from '@patternflow/kafka';
import type { IHeaders } from 'kafkajs';
import { type ExitCode, ExitCodes } from '../exit.ts';
import { type DlqEntry, originalHeaders } from './entries.ts';

/** The value of a record on the redrive marks topic, keyed by the DLQ entry's id. */
export interface RedriveMark {
  /** `<dlq topic>/<partition>:<offset>` */
  readonly entry: string;
  readonly to: string;
  readonly redriveCount: number;
  readonly redrivenAt: string;
  readonly by: string;
}

export interface OutgoingMessage {
  readonly topic: string;
  readonly key: Buffer | string | null;
  readonly value: Buffer | null;
  readonly headers: IHeaders;
}

export interface PlannedRedrive {
  readonly entry: DlqEntry;
  readonly message: OutgoingMessage;
  readonly mark: OutgoingMessage;
}

export interface RedrivePlan {
  readonly redrive: PlannedRedrive[];
  /** Not sent, and why: the bound reached, no origin, an origin topic that is gone. */
  readonly refused: { entry: DlqEntry; why: string }[];
  /** Redriven before (a mark exists): not sent again. */
  readonly alreadyRedriven: { entry: DlqEntry; mark: RedriveMark }[];
}

export function planRedrive(
  entries: readonly DlqEntry[],
  options: {
    dlqTopic: string;
    marksTopic: string;
    marks: ReadonlyMap<string, RedriveMark>;
    /** An entry that has been redriven this many times is refused. */
    maxRedrives: number;
    existingTopics: ReadonlySet<string>;
    now: number;
    by: string;
  },
): RedrivePlan {
  const plan: RedrivePlan = { redrive: [], refused: [], alreadyRedriven: [] };
  const at = new Date(options.now).toISOString();
  for (const entry of entries) {
    const mark = options.marks.get(entry.id);
    if (mark) {
      plan.alreadyRedriven.push({ entry, mark });
      continue;
    }
    if (entry.redriveCount >= options.maxRedrives) {
      plan.refused.push({
        entry,
        why: `redriven ${entry.redriveCount} time(s) already, the limit is ${options.maxRedrives} (--max-redrives): fix the cause first`,
      });
      continue;
    }
    if (entry.sourceTopic === '') {
      plan.refused.push({ entry, why: 'no pf-dlq-source-topic header: where it came from is unknown' });
      continue;
    }
    if (!options.existingTopics.has(entry.sourceTopic)) {
      plan.refused.push({ entry, why: `its topic ${entry.sourceTopic} does not exist any more` });
      continue;
    }
    const redriveCount = entry.redriveCount + 1;
    const from = `${options.dlqTopic}/${entry.id}`;
    const value: RedriveMark = {
      entry: from,
      to: entry.sourceTopic,
      redriveCount,
      redrivenAt: at,
      by: options.by,
    };
    plan.redrive.push({
      entry,
      message: {
        topic: entry.sourceTopic,
        key: entry.key,
        value: entry.value,
        headers: {
          ...originalHeaders(entry.headers),
          [RedriveHeaders.count]: String(redriveCount),
          [RedriveHeaders.from]: from,
          [RedriveHeaders.at]: at,
        },
      },
      mark: {
        topic: options.marksTopic,
        key: entry.id,
        value: Buffer.from(JSON.stringify(value)),
        headers: {},
      },
    });
  }
  return plan;
}

/** A mark read back from the marks topic; undefined for a value that is not one. */
export function parseMark(value: Buffer | null): RedriveMark | undefined {
  if (value === null) return undefined;
  try {
    const mark = JSON.parse(value.toString('utf8')) as Partial<RedriveMark>;
    return typeof mark.entry === 'string' && typeof mark.to === 'string' ? (mark as RedriveMark) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * 4 when an entry was refused (the bound, or its origin is gone); else 1 when nothing was
 * selected or a named entry is not in the DLQ; else 0 (sent now, or redriven before).
 */
export function redriveExitCode(plan: RedrivePlan, missing: readonly string[]): ExitCode {
  if (plan.refused.length > 0) return ExitCodes.REFUSED;
  const selected = plan.redrive.length + plan.alreadyRedriven.length;
  if (selected === 0 || missing.length > 0) return ExitCodes.FAILED;
  return ExitCodes.OK;
}
