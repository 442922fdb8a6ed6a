import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { CommandContext, RegisterCommand } from '../context.ts';
import {
  type DlqEntry,
  type DlqFilter,
  groupEntries,
  matchesDlqFilter,
  parseEntryId,
  toDlqEntry,
} from '../dlq/entries.ts';
import { ensureMarksTopic, readDeadLetters, readRedriveMarks } from '../dlq/read.ts';
import { planRedrive, redriveExitCode } from '../dlq/redrive.ts';
import { entryJson, renderEntries, renderEntry, renderGroups, renderRedrive } from '../dlq/render.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { parseTimeSpec, positiveInteger } from '../options.ts';
import { printJson } from '../output.ts';
import { decodeValue } from '../records/decode.ts';
import { headersText } from '../records/render.ts';
import { readTopic } from '../topics/reader.ts';

interface FilterOptions {
  reason?: string;
  stage?: string;
  source?: string;
  since?: string;
}

/** Redriven records per produce request: bounded, so a big selection is not one huge request. */
const REDRIVE_CHUNK = 200;

function addFilters(command: Command): Command {
  return command
    .option('--reason <code>', 'only this error code (PF_VALUE_NOT_DECODABLE, value_not_decodable, …)')
    .option('--stage <stage>', 'only dead letters of this stage')
    .option('--source <source>', 'only records of this source (payments, auth, …)')
    .option('--since <time>', 'only dead letters written since: ISO 8601, or a duration ago (15m, 2h, 1d)');
}

function filterOf(options: FilterOptions): DlqFilter {
  let since: number | undefined;
  if (options.since !== undefined) {
    try {
      since = parseTimeSpec(options.since, Date.now());
    } catch (error) {
      throw new CliError(ExitCodes.USAGE, `--since: ${(error as Error).message}`);
    }
  }
  return {
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    ...(options.stage === undefined ? {} : { stage: options.stage }),
    ...(options.source === undefined ? {} : { source: options.source }),
    ...(since === undefined ? {} : { since }),
  };
}

/** A read cut short by Ctrl-C ends the command; one that went idle is reported and used. */
async function deadLetters(context: CommandContext): Promise<DlqEntry[]> {
  const session = context.session();
  const { entries, how } = await readDeadLetters(session, context.signal);
  if (how === 'aborted') throw new CliError(ExitCodes.INTERRUPTED, 'interrupted');
  if (how === 'idle')
    context.io.err(`note: ${session.topics.dlq} stopped answering before its end; the list may be short`);
  return entries;
}

export const registerDlq: RegisterCommand = (program, context) => {
  const dlq = program
    .command('dlq')
    .description('Dead letters: list them grouped by reason/stage/source, show one, redrive a selection.')
    .addHelpText(
      'after',
      `
Every stage writes records it cannot process to the DLQ topic ([<namespace>.]patterns.dlq) with
their original key, value and headers, plus pf-dlq-reason (the error code), pf-dlq-message,
pf-dlq-stage, pf-dlq-source-topic/-partition/-offset and pf-dlq-failed-at.`,
    );

  addFilters(
    dlq
      .command('list')
      .description(
        'Dead letters grouped by reason, stage and source: count, first and last time, an example.',
      )
      .option('--entries', 'one line per dead letter instead of groups'),
  )
    .addHelpText(
      'after',
      `
Reads the DLQ up to its end offsets at the time of the call. Exit 0 when dead letters match, 1 when none.

Examples:
  patternflow dlq list
  patternflow dlq list --reason value_not_decodable --since 1h --entries`,
    )
    .action(
      context.action(async (options: FilterOptions & { entries?: boolean }): Promise<ExitCode> => {
        const filter = filterOf(options);
        const session = context.session();
        const entries = (await deadLetters(context)).filter((entry) => matchesDlqFilter(entry, filter));
        const marks = await readRedriveMarks(session, context.signal);
        const groups = groupEntries(entries, new Set(marks.keys()));
        if (context.json()) {
          printJson(context.io, {
            topic: session.topics.dlq,
            total: entries.length,
            groups,
            ...(options.entries
              ? {
                  entries: entries.map((entry) => ({
                    ...entryJson(entry),
                    redriven: marks.get(entry.id) ?? null,
                  })),
                }
              : {}),
          });
        } else if (options.entries && entries.length > 0) {
          context.io.out(renderEntries(entries));
        } else {
          context.io.out(renderGroups(session.topics.dlq, entries.length, groups));
        }
        return entries.length > 0 ? ExitCodes.OK : ExitCodes.FAILED;
      }),
    );

  dlq
    .command('show')
    .description('One dead letter: why, where from, its original headers, its value decoded and its bytes.')
    .argument('<entry>', '<partition>:<offset> in the DLQ (the EXAMPLE and ID columns of dlq list)')
    .addHelpText(
      'after',
      '\nExit 0 when shown, 1 when the DLQ has no such entry.\n\nExample:\n  patternflow dlq show 0:17',
    )
    .action(
      context.action(async (id: string): Promise<ExitCode> => {
        const session = context.session();
        const { partition, offset } = parseEntryId(id, session.topics.dlq);
        const admin = await session.admin();
        const bounds = (await admin.listTopics()).includes(session.topics.dlq)
          ? (await admin.fetchTopicOffsets(session.topics.dlq)).find((p) => p.partition === partition)
          : undefined;
        if (!bounds || BigInt(offset) < BigInt(bounds.low) || BigInt(offset) >= BigInt(bounds.high)) {
          const range = !bounds
            ? `${session.topics.dlq} has no partition ${partition}`
            : bounds.low === bounds.high
              ? `partition ${partition} is empty`
              : `partition ${partition} holds offsets ${bounds.low} to ${BigInt(bounds.high) - 1n}`;
          context.io.err(`no DLQ entry ${partition}:${offset}: ${range}`);
          return ExitCodes.FAILED;
        }
        let entry: DlqEntry | undefined;
        await readTopic(session, {
          topic: session.topics.dlq,
          purpose: 'dlq-show',
          start: new Map([[partition, offset]]),
          end: new Map([[partition, BigInt(offset) + 1n]]),
          signal: context.signal,
          onRecord(record) {
            if (record.offset === offset) entry = toDlqEntry(record, session.topics);
            return entry === undefined;
          },
        });
        if (!entry) {
          if (context.signal.aborted) return ExitCodes.INTERRUPTED;
          context.io.err(`no DLQ entry ${partition}:${offset} (removed by retention or compaction)`);
          return ExitCodes.FAILED;
        }
        const shown = await decodeValue(entry.value, session.codec());
        const mark = (await readRedriveMarks(session, context.signal)).get(entry.id);
        if (context.json()) {
          printJson(context.io, {
            ...entryJson(entry),
            key: entry.key === null ? null : entry.key.toString('utf8'),
            keyBase64: entry.key === null ? null : entry.key.toString('base64'),
            headers: headersText(entry.headers),
            value: shown,
            valueBase64: entry.value === null ? null : entry.value.toString('base64'),
            redriven: mark ?? null,
          });
        } else {
          context.io.out(renderEntry(session.topics.dlq, entry, shown, mark));
        }
        return ExitCodes.OK;
      }),
    );

  addFilters(
    dlq
      .command('redrive')
      .description(
        'Send a selection of dead letters back to the topics they came from, once the cause is fixed.',
      )
      .argument('[entries...]', '<partition>:<offset> of the entries to redrive (or select with the filters)')
      .option('--all', 'every dead letter (needed when no entry and no filter is given)')
      .option('--dry-run', 'show what would be sent, send nothing')
      .option(
        '--max-redrives <n>',
        'refuse entries that were already redriven this many times (a loop stops here)',
        positiveInteger,
        3,
      ),
  )
    .addHelpText(
      'after',
      `
Each selected dead letter's original key, value and headers (without the pf-dlq-* ones) go back
to its pf-dlq-source-topic with an idempotent producer (acks=all), with:
  pf-redrive-count  1 + the count the record carried (a record that fails again keeps it)
  pf-redriven-from  <dlq topic>/<partition>:<offset>
  pf-redriven-at    when
An entry whose count reached --max-redrives is refused, so a record that keeps failing stops.
After the records are acknowledged, a mark per entry goes to the compacted topic
[<namespace>.]patterns.dlq-redrives; entries with a mark are skipped, so running the same redrive
twice sends nothing twice. (A crash between the two can send an entry again on the next run,
which the sink absorbs.)

Exit codes: 0 everything selected was sent (or had been before), 1 nothing selected or an entry
not found, 4 an entry refused (the others are sent).

Examples:
  patternflow dlq redrive --reason value_oversized --since 2h --dry-run
  patternflow dlq redrive 0:17 2:5`,
    )
    .action(
      context.action(
        async (
          ids: string[],
          options: FilterOptions & { all?: boolean; dryRun?: boolean; maxRedrives: number },
        ): Promise<ExitCode> => {
          const filter = filterOf(options);
          const filtered = Object.keys(filter).length > 0;
          if (ids.length === 0 && !filtered && !options.all) {
            throw new CliError(
              ExitCodes.USAGE,
              'say which dead letters: entry ids (0:17), filters (--reason, --stage, --source, --since), or --all',
            );
          }
          const session = context.session();
          const wanted = ids.map((id) => {
            const { partition, offset } = parseEntryId(id, session.topics.dlq);
            return `${partition}:${offset}`;
          });
          const all = await deadLetters(context);
          const known = new Set(all.map((entry) => entry.id));
          const selected = all.filter(
            (entry) => (wanted.length === 0 || wanted.includes(entry.id)) && matchesDlqFilter(entry, filter),
          );
          const missing = wanted.filter((id) => !known.has(id));
          const admin = await session.admin();
          const plan = planRedrive(selected, {
            dlqTopic: session.topics.dlq,
            marksTopic: session.topics.dlqRedrives,
            marks: await readRedriveMarks(session, context.signal),
            maxRedrives: options.maxRedrives,
            existingTopics: new Set(await admin.listTopics()),
            now: Date.now(),
            by: operatorName(),
          });
          if (!options.dryRun && plan.redrive.length > 0) {
            await ensureMarksTopic(session);
            const producer = await session.producer();
            for (let at = 0; at < plan.redrive.length; at += REDRIVE_CHUNK) {
              const chunk = plan.redrive.slice(at, at + REDRIVE_CHUNK);
              const byTopic = new Map<string, (typeof chunk)[number]['message'][]>();
              for (const { message } of chunk)
                byTopic.set(message.topic, [...(byTopic.get(message.topic) ?? []), message]);
              // The records first, their marks only once the records are acknowledged: a failure
              // in between leaves entries unmarked (sent again by the next run: at-least-once),
              // never marked but not sent.
              await producer.sendBatch({
                acks: -1,
                topicMessages: [...byTopic].map(([topic, messages]) => ({
                  topic,
                  messages: messages.map(({ key, value, headers }) => ({ key, value, headers })),
                })),
              });
              await producer.sendBatch({
                acks: -1,
                topicMessages: [
                  {
                    topic: session.topics.dlqRedrives,
                    messages: chunk.map(({ mark }) => ({ key: mark.key, value: mark.value })),
                  },
                ],
              });
            }
          }
          if (context.json()) {
            printJson(context.io, {
              dryRun: options.dryRun === true,
              sent: plan.redrive.map(({ entry, message }) => ({
                ...entryJson(entry),
                to: message.topic,
                redriveCount: entry.redriveCount + 1,
              })),
              alreadyRedriven: plan.alreadyRedriven.map(({ entry, mark }) => ({ id: entry.id, mark })),
              refused: plan.refused.map(({ entry, why }) => ({ id: entry.id, why })),
              missing,
            });
          } else {
            context.io.out(renderRedrive(plan, missing, options.dryRun === true));
          }
          return redriveExitCode(plan, missing);
        },
      ),
    );
};

function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
