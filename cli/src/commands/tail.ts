import type { RegisterCommand } from '../context.ts';
import { type ExitCode, ExitCodes } from '../exit.ts';
import { collect, parseDuration, positiveInteger } from '../options.ts';
import { decodeValue } from '../records/decode.ts';
import { matchesFilter, parseWhere, type RecordFilter } from '../records/filter.ts';
import { formatRecord, safeJson, showRecord } from '../records/render.ts';
import { resolveTopic } from '../topics/names.ts';
import { readTopic } from '../topics/reader.ts';

interface TailOptions {
  fromBeginning?: boolean;
  count?: number;
  key?: string;
  where: string[];
  timeout?: number;
}

export const registerTail: RegisterCommand = (program, context) => {
  program
    .command('tail')
    .description(
      'Follow a topic: values decoded (JSON, Confluent Avro through the registry, other bytes as hex), headers shown.',
    )
    .argument(
      '<topic>',
      'ingest.<source>, normalized, tagged, normalized.priority, tagged.priority, routed.<lane>, dlq, skipped, dlq-redrives (in the namespace), or a full topic name',
    )
    .option('--from-beginning', 'start at the oldest retained record instead of the end')
    .option('--count <n>', 'exit 0 once this many matching records were shown', positiveInteger)
    .option('--key <key>', 'only records with this key')
    .option(
      '--where <path=value>',
      'only records whose decoded value has this value at this dot path (repeatable; all must match)',
      collect,
      [],
    )
    .option(
      '--timeout <duration>',
      'stop after this long (30s, 5m): exit 0 when --count records (or, without --count, any) matched, else 1',
      parseDuration,
    )
    .addHelpText(
      'after',
      `
Reads with a consumer group of its own (patternflow-cli.tail.<random>) that commits nothing
and is deleted at the end: the pipeline's groups never move. Without --count it follows the
topic until Ctrl-C (exit 0). --json prints one JSON object per record (NDJSON): topic,
partition, offset, timestamp, key, headers, format (avro|json|text|binary|empty|null), value.
Control characters in keys, headers and values are escaped.

Examples:
  patternflow tail ingest.payments
  patternflow tail normalized --from-beginning --where source=payments --where tier=free --count 5
  patternflow tail routed.critical --key 3f0c… --json --count 1 --timeout 30s`,
    )
    .action(
      context.action(async (topicName: string, options: TailOptions): Promise<ExitCode> => {
        const filter: RecordFilter = {
          ...(options.key === undefined ? {} : { key: options.key }),
          where: options.where.map(parseWhere),
        };
        const session = context.session();
        const topic = resolveTopic(topicName, session.topics);
        const codec = session.codec();
        const timeout = options.timeout === undefined ? undefined : AbortSignal.timeout(options.timeout);
        const signal = timeout ? AbortSignal.any([context.signal, timeout]) : context.signal;
        if (!context.json()) {
          context.io.err(
            `following ${topic} from ${options.fromBeginning ? 'the oldest record' : 'the end'}${options.count === undefined ? ' (Ctrl-C to stop)' : ''}`,
          );
        }
        let matched = 0;
        const how = await readTopic(session, {
          topic,
          purpose: 'tail',
          start: options.fromBeginning ? 'earliest' : 'latest',
          signal,
          async onRecord(raw) {
            const shown = showRecord(raw, await decodeValue(raw.value, codec));
            if (!matchesFilter(shown, filter)) return true;
            matched += 1;
            context.io.out(context.json() ? safeJson(shown) : formatRecord(shown));
            return options.count === undefined || matched < options.count;
          },
        });
        if (how === 'stopped') return ExitCodes.OK;
        if (context.signal.aborted) {
          // Following until Ctrl-C is the normal end; a count not reached is not.
          return options.count === undefined ? ExitCodes.OK : ExitCodes.INTERRUPTED;
        }
        // The timeout: a yes when something matched (and the count, if any, was reached).
        const enough = options.count === undefined ? matched > 0 : matched >= options.count;
        if (!enough) context.io.err(`${matched} matching record(s) in ${options.timeout} ms`);
        return enough ? ExitCodes.OK : ExitCodes.FAILED;
      }),
    );
};
