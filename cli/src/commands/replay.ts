import { setOffsetsOfEmptyGroup } from '@patternflow/kafka';
import { STAGES, type Stage } from '@patternflow/service';
import { Argument } from 'commander';
import type { RegisterCommand } from '../context.ts';
import { CliError, type ExitCode, ExitCodes } from '../exit.ts';
import { parseDuration, parseTimeSpec } from '../options.ts';
import { printJson } from '../output.ts';
import { planReplay, type ReplayRow, renderPlan, rewinds } from '../replay/plan.ts';
import { groupMembers, quiesceStage, supervisesStage } from '../replay/quiesce.ts';
import type { Session } from '../session.ts';
import { stageInputTopics } from '../topics/names.ts';

interface ReplayOptions {
  from: string;
  dryRun?: boolean;
  force?: boolean;
  wait: number;
}

export const registerReplay: RegisterCommand = (program, context) => {
  program
    .command('replay')
    .description("Move a stage's consumer group back to a time: the stage processes those records again.")
    .addArgument(new Argument('<stage>', 'the stage whose input is replayed').choices(STAGES))
    .requiredOption('--from <time>', 'ISO 8601 (2026-11-26T07:00:00Z) or a duration ago (15m, 2h, 1d)')
    .option(
      '--dry-run',
      'show per partition the committed offset, the new one and the records replayed; change nothing',
    )
    .option('--force', 'get the running stage stopped for the reset (see below)')
    .option('--wait <duration>', 'with --force, how long the stage may take to stop', parseDuration, 60_000)
    .addHelpText(
      'after',
      `
Each input partition of the stage's group goes back to the first record at or after --from.
A partition the group has not read that far keeps its offset (a replay never skips records),
and so does one it never committed on. Duplicates are absorbed: the sink writes each id once.

Kafka refuses to move the offsets of a group that has members, so while the stage runs the
command refuses (exit 4). With --force:
  - under make run (PF_RUN_DIR names its folder), the supervisor stops the stage, the offsets
    are reset, and the supervisor starts it again at once (it also does if this command dies);
  - elsewhere, it waits up to --wait for the group to empty (stop the stage, e.g. scale it to 0),
    resets, and leaves starting the stage again to you.

Exit codes: 0 reset (or nothing to replay), 1 no input topics, 2 bad arguments, 4 refused.

Examples:
  patternflow replay sink --from 15m --dry-run
  patternflow replay inference-tagger --from 2026-11-26T07:00:00Z --force`,
    )
    .action(
      context.action(async (stage: Stage, options: ReplayOptions): Promise<ExitCode> => {
        let from: number;
        try {
          from = parseTimeSpec(options.from, Date.now());
        } catch (error) {
          throw new CliError(ExitCodes.USAGE, `--from: ${(error as Error).message}`);
        }
        const session = context.session();
        const admin = await session.admin();
        const groupId = session.groupIdOf(stage);
        const topics = await inputTopics(session, stage, groupId);
        if (topics.length === 0) {
          context.io.err(
            `${stage} has no input topics in namespace "${session.settings.topicNamespace}": nothing to replay`,
          );
          return ExitCodes.FAILED;
        }
        const plan = () => replayPlan(session, groupId, topics, from);
        const fromIso = new Date(from).toISOString();
        const members = await groupMembers(admin, groupId);

        if (options.dryRun) {
          const rows = await plan();
          report(context, { stage, groupId, from: fromIso, rows, applied: false, members });
          if (members > 0)
            context.io.err(`${stage} is running (${members} member(s)): the reset itself needs --force`);
          return ExitCodes.OK;
        }
        if (members > 0 && !options.force) {
          const supervised = supervisesStage(session.settings.runDir, session.settings.topicNamespace, stage);
          throw new CliError(
            ExitCodes.REFUSED,
            `${stage} is running: group ${groupId} has ${members} member(s), and Kafka moves the offsets of an empty group only. ` +
              (supervised
                ? "Add --force: make run's supervisor stops it for the reset and starts it again."
                : 'Stop it first, or add --force to wait for it to stop.'),
          );
        }
        const quiesced =
          members > 0
            ? await quiesceStage({
                admin,
                groupId,
                stage,
                runDir: session.settings.runDir,
                namespace: session.settings.topicNamespace,
                waitMs: options.wait,
                reason: `patternflow replay --from ${fromIso}`,
                io: context.io,
                signal: context.signal,
              })
            : undefined;
        try {
          // Planned now, with the group empty: a stage that was running committed until it stopped.
          const rows = await plan();
          try {
            await setOffsetsOfEmptyGroup(session.kafka(), groupId, rewinds(rows));
          } catch (error) {
            throw new CliError(
              ExitCodes.REFUSED,
              `could not move ${groupId} back (did the stage start again?): ${(error as Error).message}`,
              { cause: error },
            );
          }
          report(context, { stage, groupId, from: fromIso, rows, applied: true, members: 0 });
          return ExitCodes.OK;
        } finally {
          quiesced?.release();
        }
      }),
    );
};

/** What the stage consumes: its input topics that exist, and any topic its group has committed on. */
async function inputTopics(session: Session, stage: Stage, groupId: string): Promise<string[]> {
  const admin = await session.admin();
  const existing = await admin.listTopics();
  const committedOn = (await admin.fetchOffsets({ groupId })).map((entry) => entry.topic);
  return [...new Set([...stageInputTopics(stage, session.topics, existing), ...committedOn])]
    .filter((topic) => existing.includes(topic))
    .sort();
}

async function replayPlan(session: Session, groupId: string, topics: readonly string[], from: number) {
  const admin = await session.admin();
  const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
  const atTime = await Promise.all(
    topics.map(async (topic) => ({
      topic,
      partitions: await admin.fetchTopicOffsetsByTimestamp(topic, from),
    })),
  );
  return planReplay(committed, atTime);
}

function report(
  context: Parameters<RegisterCommand>[1],
  result: {
    stage: Stage;
    groupId: string;
    from: string;
    rows: ReplayRow[];
    applied: boolean;
    members: number;
  },
): void {
  const records = result.rows.reduce((sum, row) => sum + row.records, 0);
  if (context.json()) {
    printJson(context.io, { ...result, records });
    return;
  }
  const verb = result.applied ? 'moved back' : 'would move back';
  context.io.out(
    [
      `${result.stage} (group ${result.groupId}) from ${result.from}: ${records === 0 ? 'nothing to replay' : `${verb}; ${records} record(s) to process again`}`,
      '',
      renderPlan(result.rows),
    ].join('\n'),
  );
}
