/** What `dlq list`, `dlq show` and `dlq redrive` print, as text and as JSON. */
import { formatTable } from '../output.ts';
import type { ShownValue } from '../records/decode.ts';
import { escapeControls, headersText, hexDump, safeJson, utf8OrUndefined } from '../records/render.ts';
import { type DlqEntry, type DlqGroup, originalHeaders } from './entries.ts';
import type { RedriveMark, RedrivePlan } from './redrive.ts';

/** An entry as --json prints it (no bytes: `dlq show` adds them). */
export function entryJson(entry: DlqEntry) {
  return {
    id: entry.id,
    partition: entry.partition,
    offset: entry.offset,
    time: new Date(entry.timestamp).toISOString(),
    reason: entry.reason,
    message: entry.message,
    stage: entry.stage,
    source: entry.source,
    sourceTopic: entry.sourceTopic,
    sourcePartition: entry.sourcePartition,
    sourceOffset: entry.sourceOffset,
    failedAt: entry.failedAt,
    redriveCount: entry.redriveCount,
    redrivenFrom: entry.redrivenFrom,
  };
}

const clip = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length - 1)}…` : text;

export function renderGroups(topic: string, total: number, groups: readonly DlqGroup[]): string {
  if (groups.length === 0) return `${topic}: no dead letters match`;
  return [
    `${topic}: ${total} dead letter(s) in ${groups.length} group(s)`,
    '',
    formatTable(groups, [
      { header: 'REASON', value: (g) => escapeControls(g.reason) },
      { header: 'STAGE', value: (g) => escapeControls(g.stage) },
      { header: 'SOURCE', value: (g) => escapeControls(g.source) },
      { header: 'COUNT', value: (g) => g.count, align: 'right' },
      { header: 'FIRST', value: (g) => g.first },
      { header: 'LAST', value: (g) => g.last },
      { header: 'EXAMPLE', value: (g) => g.example },
      { header: 'REDRIVEN', value: (g) => g.redriven, align: 'right' },
      {
        header: 'RETURNED',
        value: (g) => (g.returned === 0 ? '-' : `${g.returned} (up to ${g.maxRedriveCount}x)`),
      },
    ]),
    '',
    'REDRIVEN: sent back by dlq redrive. RETURNED: records that were redriven and failed again.',
    'patternflow dlq show <example> shows one; patternflow dlq list --entries lists them;',
    'patternflow dlq redrive --reason <reason> --dry-run shows what a redrive would send.',
  ].join('\n');
}

export function renderEntries(entries: readonly DlqEntry[]): string {
  return formatTable(entries, [
    { header: 'ID', value: (e) => e.id },
    { header: 'TIME', value: (e) => new Date(e.timestamp).toISOString() },
    { header: 'REASON', value: (e) => escapeControls(e.reason) },
    { header: 'STAGE', value: (e) => escapeControls(e.stage) },
    { header: 'SOURCE', value: (e) => escapeControls(e.source) },
    {
      header: 'FROM',
      value: (e) => escapeControls(`${e.sourceTopic} ${e.sourcePartition}:${e.sourceOffset}`),
    },
    { header: 'REDRIVES', value: (e) => e.redriveCount, align: 'right' },
    { header: 'MESSAGE', value: (e) => clip(escapeControls(e.message), 70) },
  ]);
}

/** Everything about one dead letter: why, where, its original headers and bytes. */
export function renderEntry(
  topic: string,
  entry: DlqEntry,
  shown: ShownValue,
  mark: RedriveMark | undefined,
): string {
  const key =
    entry.key === null ? '(null)' : (utf8OrUndefined(entry.key) ?? `base64:${entry.key.toString('base64')}`);
  const redrives =
    entry.redriveCount === 0
      ? '0 (a first failure)'
      : `${entry.redriveCount} (last redriven from ${escapeControls(entry.redrivenFrom ?? '?')})`;
  const lines = [
    `${topic} ${entry.id}  written ${new Date(entry.timestamp).toISOString()}`,
    `  reason     ${escapeControls(entry.reason)}`,
    `  message    ${escapeControls(entry.message)}`,
    `  stage      ${escapeControls(entry.stage)}`,
    `  source     ${escapeControls(entry.source)} (${escapeControls(entry.sourceTopic)} partition ${escapeControls(entry.sourcePartition)} offset ${escapeControls(entry.sourceOffset)})`,
    `  failed at  ${escapeControls(entry.failedAt)}`,
    `  redrives   ${redrives}`,
    `  redriven   ${mark ? `yes, at ${escapeControls(mark.redrivenAt)} by ${escapeControls(mark.by)}, to ${escapeControls(mark.to)}` : 'no'}`,
    `  key        ${escapeControls(key)}`,
    'original headers',
    ...headerLines(entry),
    `value: ${shown.format}${shown.schemaId === undefined ? '' : ` (schema ${shown.schemaId})`}, ${shown.bytes} bytes${shown.note ? ` (${escapeControls(shown.note)})` : ''}`,
  ];
  if (shown.value !== undefined) lines.push(`  ${safeJson(shown.value)}`);
  if (entry.value && entry.value.length > 0) {
    lines.push('original bytes');
    lines.push(
      ...hexDump(entry.value)
        .split('\n')
        .map((line) => `  ${line}`),
    );
  }
  return lines.join('\n');
}

function headerLines(entry: DlqEntry): string[] {
  const lines = Object.entries(headersText(originalHeaders(entry.headers))).map(
    ([name, value]) => `  ${escapeControls(name)}: ${escapeControls(value)}`,
  );
  return lines.length > 0 ? lines : ['  (none)'];
}

export function renderRedrive(plan: RedrivePlan, missing: readonly string[], dryRun: boolean): string {
  const lines: string[] = [];
  const verb = dryRun ? 'would send' : 'sent';
  for (const { entry, message } of plan.redrive) {
    lines.push(
      `${verb} ${entry.id} (${escapeControls(entry.reason)}) to ${escapeControls(message.topic)}, redrive ${entry.redriveCount + 1}`,
    );
  }
  for (const { entry, mark } of plan.alreadyRedriven) {
    lines.push(
      `skipped ${entry.id}: redriven before, at ${escapeControls(mark.redrivenAt)} by ${escapeControls(mark.by)}`,
    );
  }
  for (const { entry, why } of plan.refused) lines.push(`refused ${entry.id}: ${why}`);
  for (const id of missing) lines.push(`missing ${id}: no such entry in the DLQ`);
  lines.push(
    `${dryRun ? 'dry run: ' : ''}${plan.redrive.length} ${verb}, ${plan.alreadyRedriven.length} redriven before, ${plan.refused.length} refused, ${missing.length} missing`,
  );
  return lines.join('\n');
}
