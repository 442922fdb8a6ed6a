import { userInfo } from 'node:os';
import { ensureTopics, skipUnreadableRange } from '@patternflow/kafka';
import { STAGES, type Stage } from '@patternflow/service';
import { Option } from 'commander';
import type { RegisterCommand } from '../context.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { printJson } from '../output.ts';
import { groupMembers } from '../replay/quiesce.ts';
import { resolveTopic } from '../topics/names.ts';

interface SkipOptions {
  stage?: Stage;
  group?: string;
  topic: string;
  partition: string;
  from: string;
  to: string;
  reason: string;
  by?: string;
}

const WHOLE = /^\d+$/;

export const registerSkip: RegisterCommand = (program, context) => {
  program
    .command('skip')
    .description(
      'Move a stage past a batch its Kafka client cannot read (docs/operations.md, "unreadable batch").',
    )
    .addOption(new Option('--stage <stage>', 'the stage standing in front of the batch').choices(STAGES))
    .option('--group <id>', "the consumer group instead of --stage (e.g. a stage's PF_GROUP_ID_* override)")
    .requiredOption('--topic <topic>', 'the topic (ingest.<source>, normalized, … or a full name)')
    .requiredOption('--partition <n>', 'the partition')
    .requiredOption('--from <offset>', 'first unreadable offset (the from label of pf_unreadable_batch)')
    .requiredOption('--to <offset>', 'first offset after the range (its to label)')
    .requiredOption('--reason <text>', 'why, for the audit record')
    .option('--by <name>', 'who, for the audit record (default: the user running this)')
    .addHelpText(
      'after',
      `
The stage logs the exact range and exports pf_unreadable_batch{topic,partition,from,to}; status
shows it. The skip is written to [<namespace>.]patterns.skipped (acks=all) before the group's
offset moves to --to. Refused (exit 4) while the group has members; fails (exit 1) when the
group is not at --from (it would lose readable records, or the skip was done already).

Example:
  patternflow skip --stage ingestor --topic ingest.payments --partition 2 --from 1200 --to 1250 \\
    --reason "corrupt batch from vendor X"`,
    )
    .action(
      context.action(async (options: SkipOptions): Promise<ExitCode> => {
        const bad = (['partition', 'from', 'to'] as const).filter((name) => !WHOLE.test(options[name]));
        if (bad.length > 0) {
          throw new CliError(ExitCodes.USAGE, `--${bad.join(', --')} must be whole numbers`);
        }
        if ((options.stage === undefined) === (options.group === undefined)) {
          throw new CliError(ExitCodes.USAGE, 'name the group with exactly one of --stage and --group');
        }
        const session = context.session();
        const groupId = options.group ?? session.groupIdOf(options.stage as Stage);
        const admin = await session.admin();
        const members = await groupMembers(admin, groupId);
        if (members > 0) {
          throw new CliError(
            ExitCodes.REFUSED,
            `group ${groupId} has ${members} member(s): a consuming stage would overwrite the offset`,
          );
        }
        await ensureTopics(session.kafka(), [{ topic: session.topics.skipped, partitions: 1 }]);
        let record: Awaited<ReturnType<typeof skipUnreadableRange>>;
        try {
          record = await skipUnreadableRange({
            kafka: session.kafka(),
            groupId,
            range: {
              topic: resolveTopic(options.topic, session.topics),
              partition: Number(options.partition),
              from: options.from,
              to: options.to,
            },
            reason: options.reason,
            by: options.by ?? userInfo().username,
            auditTopic: session.topics.skipped,
          });
        } catch (error) {
          throw new CliError(ExitCodes.FAILED, (error as Error).message, { cause: error });
        }
        if (context.json()) printJson(context.io, record);
        else {
          context.io.out(
            `skipped ${record.topic} partition ${record.partition} offsets ${record.from} to ${BigInt(record.to) - 1n} for ${record.groupId}; recorded on ${session.topics.skipped}`,
          );
        }
        return ExitCodes.OK;
      }),
    );
};
